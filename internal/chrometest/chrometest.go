// Package chrometest runs a headless Chromium for tests and drives it over
// the DevTools protocol (chromedp). It launches the browser with the flags
// that make WebRTC work on loopback (see FIELD-NOTES.md, "Browsers in tests"),
// grants each page's origin camera and microphone permission so Chromium
// gathers loopback host candidates, and kills the browser when the test ends.
package chrometest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is where the Debian package installs Chromium.
const ChromiumPath = "/usr/bin/chromium"

// MissingHint is the failure message when Chromium is not installed.
const MissingHint = "chromium not installed: run `make test`, which installs it"

// Flags are the command-line flags Chromium gets, besides --user-data-dir
// and the --remote-debugging-port=0 chromedp needs to reach it.
var Flags = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	// WebRTC on loopback in headless Chromium (FIELD-NOTES.md).
	"--allow-loopback-in-peer-connection",
	"--disable-features=WebRtcHideLocalIpsWithMdns",
	"--autoplay-policy=no-user-gesture-required",
	// getUserMedia gets Chromium's test camera (a moving pattern with a
	// frame counter) and microphone (a beep), with no permission prompt.
	"--use-fake-device-for-media-stream",
	"--use-fake-ui-for-media-stream",
	// Tabs in the background keep full speed: a test's second tab (a
	// canvas publisher) would otherwise draw once a second, and its video
	// with it.
	"--disable-background-timer-throttling",
	"--disable-renderer-backgrounding",
	"--disable-backgrounding-occluded-windows",
}

// startTimeout bounds the browser's start; the machine is shared and slow.
const startTimeout = 60 * time.Second

// Browser is one headless Chromium process owned by a test.
type Browser struct {
	userDataDir string
	pid         int
	// browserCtx is chromedp's handle on the browser: chromedp keeps the
	// connection in a context, so the harness has to hold it.
	browserCtx context.Context
}

// Start launches Chromium for tb and stops it in tb's cleanup. A missing
// Chromium fails the test: it is never skipped.
func Start(tb testing.TB) *Browser {
	tb.Helper()
	return startIn(tb, tb.TempDir()) // before our cleanup, so it is removed after the browser is gone
}

// startIn launches Chromium on the profile in dir (restart.go reuses it).
func startIn(tb testing.TB, dir string) *Browser {
	tb.Helper()
	path, err := exec.LookPath(ChromiumPath)
	if err != nil {
		tb.Fatal(MissingHint)
	}

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path)}
	for _, f := range Flags {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	out := &tailBuffer{max: 16 << 10}
	opts = append(opts,
		chromedp.UserDataDir(dir),
		chromedp.CombinedOutput(out),
		chromedp.WSURLReadTimeout(startTimeout),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Own process group, so cleanup can kill every Chromium
			// process; and die with the test binary.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, browserCancel := chromedp.NewContext(allocCtx)
	b := &Browser{userDataDir: dir, browserCtx: browserCtx}

	tb.Cleanup(func() {
		if tb.Failed() {
			if s := out.String(); s != "" {
				tb.Logf("chromium output (tail):\n%s", s)
			}
		}
		browserCancel()
		if b.pid > 0 {
			// The whole group at once: browser, zygotes, renderers, GPU
			// and network processes. The profile is a throwaway, so
			// there is nothing to close gracefully.
			_ = syscall.Kill(-b.pid, syscall.SIGKILL)
		}
		allocCancel() // kills the browser if it was never started, and reaps it
	})

	// Start the browser now, so a broken install fails here, not in Open.
	// chromedp ties the browser's lifetime to the context of its first Run,
	// so that Run gets browserCtx itself, with a watchdog for the timeout.
	startCtx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	watchdog := context.AfterFunc(startCtx, browserCancel)
	err = chromedp.Run(browserCtx, chromedp.ActionFunc(func(ctx context.Context) error {
		if p := chromedp.FromContext(ctx).Browser.Process(); p != nil {
			b.pid = p.Pid
		}
		return nil
	}))
	watchdog()
	if err != nil {
		tb.Fatalf("chrometest: start chromium: %v\n%s", err, out.String())
	}
	return b
}

// UserDataDir is the browser's profile directory, under the test's TempDir.
func (b *Browser) UserDataDir() string { return b.userDataDir }

// PID is the process id of the browser's main process.
func (b *Browser) PID() int { return b.pid }

// runWithin runs actions on the chromedp context target while honouring the
// deadline and cancellation of the caller's ctx. target must have run once
// already: chromedp binds a tab to the context of its first Run.
func runWithin(ctx, target context.Context, actions ...chromedp.Action) error {
	runCtx, cancel := context.WithCancel(target)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	err := chromedp.Run(runCtx, actions...)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// Page is one browser tab.
type Page struct {
	// tabCtx is chromedp's handle on the tab (see Browser.browserCtx).
	tabCtx context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	console []string
}

// Open opens a new tab, grants the origin of rawURL camera and microphone
// permission (no camera is opened: it makes Chromium gather loopback ICE
// candidates), and navigates to rawURL, waiting for the load event.
func (b *Browser) Open(ctx context.Context, rawURL string) (*Page, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("chrometest: open %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("chrometest: open %q: want an http(s) URL", rawURL)
	}
	origin := u.Scheme + "://" + u.Host

	tabCtx, cancel := chromedp.NewContext(b.browserCtx)
	p := &Page{tabCtx: tabCtx, cancel: cancel}
	chromedp.ListenTarget(tabCtx, p.onEvent)

	// The first Run creates the tab and binds it to tabCtx (see runWithin).
	watchdog := context.AfterFunc(ctx, cancel)
	err = chromedp.Run(tabCtx)
	watchdog()
	if err == nil {
		err = runWithin(ctx, tabCtx,
			chromedp.ActionFunc(func(ctx context.Context) error {
				c := chromedp.FromContext(ctx)
				return browser.GrantPermissions([]browser.PermissionType{
					browser.PermissionTypeVideoCapture,
					browser.PermissionTypeAudioCapture,
				}).WithOrigin(origin).Do(cdp.WithExecutor(ctx, c.Browser))
			}),
			chromedp.Navigate(rawURL),
		)
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("chrometest: open %s: %w", rawURL, err)
	}
	return p, nil
}

// onEvent keeps the page's console output and uncaught exceptions; tests
// print them with Console when they fail.
func (p *Page) onEvent(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		args := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			var str string
			switch {
			case a.Type == runtime.TypeString && json.Unmarshal(a.Value, &str) == nil:
				args = append(args, str)
			case a.Value != nil:
				args = append(args, string(a.Value))
			case a.Description != "":
				args = append(args, a.Description)
			default:
				args = append(args, string(a.Type))
			}
		}
		line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		line = "uncaught: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			line += " " + d.Exception.Description
		}
	default:
		return
	}
	p.mu.Lock()
	if len(p.console) < 1000 {
		p.console = append(p.console, line)
	}
	p.mu.Unlock()
}

// Console returns what the page logged to its console and its uncaught
// exceptions, in order.
func (p *Page) Console() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// Close closes the tab. The browser's cleanup closes tabs left open.
func (p *Page) Close() { p.cancel() }

// Navigate loads rawURL in this tab and waits for the load event.
func (p *Page) Navigate(ctx context.Context, rawURL string) error {
	return runWithin(ctx, p.tabCtx, chromedp.Navigate(rawURL))
}

// SetOffline cuts this tab's network, or gives it back, as the Offline
// switch of DevTools does: the page's requests fail at once and the page
// gets its offline (online) event.
func (p *Page) SetOffline(ctx context.Context, offline bool) error {
	return runWithin(ctx, p.tabCtx, network.Enable(), network.EmulateNetworkConditions(offline, 0, -1, -1))
}

// Eval evaluates the JavaScript expression js in the page, waits for it if it
// is a promise, and decodes its JSON value into out (which may be nil).
func (p *Page) Eval(ctx context.Context, js string, out any) error {
	var raw json.RawMessage
	err := runWithin(ctx, p.tabCtx, chromedp.Evaluate(js, &raw, awaitPromise))
	if err != nil {
		return fmt.Errorf("chrometest: eval %s: %w", abbrev(js), err)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("chrometest: eval %s: decode %s: %w", abbrev(js), abbrev(string(raw)), err)
	}
	return nil
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams {
	return p.WithAwaitPromise(true)
}

// pollInterval is how often WaitFor evaluates its condition.
const pollInterval = 50 * time.Millisecond

// WaitFor evaluates the JavaScript expression cond (it may be a promise)
// until it is truthy, and fails after timeout or when ctx ends. The error
// names the last value or exception seen.
func (p *Page) WaitFor(ctx context.Context, cond string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	expr := "(async () => !!(await (" + cond + ")))()"
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last error
	for {
		var ok bool
		err := p.Eval(ctx, expr, &ok)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("chrometest: %s not true after %v", abbrev(cond), timeout)
			if last != nil && !errors.Is(last, context.DeadlineExceeded) {
				msg += "; last error: " + last.Error()
			}
			return errors.New(msg)
		case <-t.C:
		}
	}
}

// Text returns the text content of the first element matching the CSS
// selector, or an error if none matches.
func (p *Page) Text(ctx context.Context, selector string) (string, error) {
	sel, err := json.Marshal(selector)
	if err != nil {
		return "", err
	}
	var res struct {
		Found bool   `json:"found"`
		Text  string `json:"text"`
	}
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? {found: true, text: e.textContent} : {found: false}; })()`, sel)
	if err := p.Eval(ctx, js, &res); err != nil {
		return "", err
	}
	if !res.Found {
		return "", fmt.Errorf("chrometest: no element matches %s", selector)
	}
	return res.Text, nil
}

// Click waits until the first element matching the CSS selector is visible,
// scrolls it into view and clicks its centre with real mouse events, the way
// a user's tap reaches whatever element is on top at that point.
func (p *Page) Click(ctx context.Context, selector string) error {
	if err := runWithin(ctx, p.tabCtx, chromedp.Click(selector, chromedp.ByQuery)); err != nil {
		return fmt.Errorf("chrometest: click %s: %w", selector, err)
	}
	return nil
}

// Type focuses the first input matching the CSS selector, clears it and types
// text into it with key events. A trailing "\r" presses Enter.
func (p *Page) Type(ctx context.Context, selector, text string) error {
	sel, err := json.Marshal(selector)
	if err != nil {
		return err
	}
	var cleared bool
	err = runWithin(ctx, p.tabCtx,
		chromedp.WaitVisible(selector, chromedp.ByQuery),
		// The value property, not the attribute chromedp.Clear resets.
		chromedp.Evaluate(fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return false; e.value = ''; return true; })()`, sel), &cleared),
		chromedp.SendKeys(selector, text, chromedp.ByQuery),
	)
	if err != nil {
		return fmt.Errorf("chrometest: type into %s: %w", selector, err)
	}
	return nil
}

// SetViewport emulates a screen of width x height CSS pixels until the page is
// closed. Below 600 px wide it emulates a phone (360 x 740 is a common one),
// which honours the page's viewport meta tag.
func (p *Page) SetViewport(ctx context.Context, width, height int64) error {
	return runWithin(ctx, p.tabCtx, chromedp.ActionFunc(func(ctx context.Context) error {
		return emulation.SetDeviceMetricsOverride(width, height, 1, width < 600).Do(ctx)
	}))
}

// Screenshot writes a PNG of the visible page to path.
func (p *Page) Screenshot(ctx context.Context, path string) error {
	var png []byte
	if err := runWithin(ctx, p.tabCtx, chromedp.CaptureScreenshot(&png)); err != nil {
		return fmt.Errorf("chrometest: screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}

func abbrev(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
