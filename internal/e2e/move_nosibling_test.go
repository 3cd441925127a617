package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// TestDrainedEdgeWithNoSiblingUp: edges A and B list each other as
// siblings, but B is gone (SIGTERM, exited) when A drains. A sends its
// viewer to nobody (a sibling that does not answer ready gets no viewers)
// and the page, told to move to its own address, says the server is
// restarting (not an error), keeps retrying there with a backoff (no offer
// within half a second of the last) and, once A's replacement listens at
// the same address, plays again without a reload.
func TestDrainedEdgeWithNoSiblingUp(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{})
	loopback := func() string { return fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)) }
	origin := startOriginProcess(t, map[string]string{"LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_CONTROL_TOKEN": "move-test-token-0123456"})
	pub := startFFmpeg(t, encodeArgs(30), fmt.Sprintf("rtsp://%s:%s@%s/cam", pubUser, pubPass, origin.ports["LIVEDROP_RTSP_ADDR"]))
	t.Cleanup(pub.stop)

	addrA, addrB := loopback(), loopback()
	siblings := "http://" + addrA + ",http://" + addrB
	startEdgeAt := func(id, addr string) *node {
		fixed := map[string]string{"LIVEDROP_HTTP_ADDR": addr, "LIVEDROP_ICE_UDP_PORT": fmt.Sprint(freeUDPPort(t))}
		return startNode(t, "edge", map[string]string{
			"LIVEDROP_ORIGIN_URL": origin.url, "LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_NODE_SECRET": nodeSecret,
			"LIVEDROP_REGION": "eu-test", "LIVEDROP_NODE_ID": id, "LIVEDROP_DATA_DIR": t.TempDir(),
			"LIVEDROP_SESSION_SECRET": buyertest.Secret, "LIVEDROP_MOVE_GRACE": "2s",
			"LIVEDROP_SIBLINGS": siblings, "LIVEDROP_PUBLIC_URL": "http://" + addr,
		}, func() map[string]string { return fixed })
	}
	edgeA, edgeB := startEdgeAt("edge-a", addrA), startEdgeAt("edge-b", addrB)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	page, err := b.Open(ctx, edgeA.url+"/watch/cam")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing"`, 40*time.Second); err != nil {
		t.Fatalf("viewer page not playing at edge A: %v (console %v)", err, page.Console())
	}
	// Every WHEP offer the page makes from now on, with its time.
	if err := page.Eval(ctx, `(() => {
		window.notReloaded = true;
		window.offers = [];
		const f = window.fetch;
		window.fetch = (u, o) => {
			if (o && o.method === 'POST' && String(u).includes('/whep/')) window.offers.push(Date.now());
			return f(u, o);
		};
		return true;
	})()`, nil); err != nil {
		t.Fatal(err)
	}

	// B goes first: it has no viewers, so it exits at once.
	if err := edgeB.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-edgeB.done:
		if err != nil {
			t.Fatalf("edge B after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("edge B did not exit after SIGTERM")
	}

	drained := time.Now()
	if err := edgeA.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	const restarting = `(() => { const s = document.querySelector('[data-testid="status"]');
		return /^server restarting, reconnecting in \d+ s$/.test(s.textContent.trim()) && s.dataset.state === 'connecting'; })()`
	if err := page.WaitFor(ctx, `window.livedrop.moves() === 1 && `+restarting, 15*time.Second); err != nil {
		var st any
		_ = page.Eval(ctx, `({base: window.livedrop.base(), moves: window.livedrop.moves(), status: document.querySelector('[data-testid="status"]').textContent})`, &st)
		t.Fatalf("page does not say the server is restarting: %v (state %v, console %v)", err, st, page.Console())
	}
	told := time.Since(drained)
	var base string
	if err := page.Eval(ctx, `window.livedrop.base()`, &base); err != nil || base != edgeA.url+"/watch/cam" {
		t.Fatalf("page retries at %q (%v), want its own address %s/watch/cam (B is down)", base, err, edgeA.url)
	}
	select {
	case err := <-edgeA.done:
		if err != nil {
			t.Fatalf("edge A after SIGTERM: %v\n%s", err, edgeA.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("edge A did not exit after SIGTERM\n%s", edgeA.logs.String())
	}
	if logs := edgeA.logs.String(); !strings.Contains(logs, `told=1 moved=0 siblings=1 ready=0 `) {
		t.Fatalf("edge A's log does not say it told its viewer with no sibling ready:\n%s", logs)
	}
	// Nobody listens at A's address now: the page keeps saying so, and
	// backs off, until A's replacement comes up there.
	var offers []float64
	waitFor(t, 30*time.Second, "the page retrying while no edge is up", func() bool {
		_ = page.Eval(ctx, `window.offers`, &offers)
		return len(offers) >= 4
	})
	var still bool
	if err := page.Eval(ctx, restarting+` && window.notReloaded === true`, &still); err != nil || !still {
		t.Fatalf("with no edge up, the page does not say it is reconnecting (%v, console %v)", err, page.Console())
	}
	edgeA2 := edgeA.restart(t)
	if edgeA2.url != edgeA.url {
		t.Fatalf("A's address was taken meanwhile (%s): the replacement is elsewhere", edgeA2.url)
	}
	up := time.Now()
	playing := fmt.Sprintf(`window.notReloaded === true && window.livedrop.moves() === 1 && window.livedrop.status() === 'playing' &&
		(window.livedrop.session() || '').startsWith(%q)`, edgeA.url+"/whep/cam/")
	if err := page.WaitFor(ctx, playing, 45*time.Second); err != nil {
		t.Fatalf("page did not play at A's replacement: %v (console %v)", err, page.Console())
	}
	back := time.Since(up)
	_ = page.Eval(ctx, `window.offers`, &offers)
	for i := 1; i < len(offers); i++ {
		if gap := offers[i] - offers[i-1]; gap < 500 {
			t.Fatalf("offers %v ms apart: the page hammers (all %v)", gap, offers)
		}
	}
	t.Logf("told to move %v after SIGTERM; %d offers until playing again, %v after the replacement was ready; gaps %v",
		told.Round(time.Millisecond), len(offers), back.Round(time.Millisecond), gaps(offers))
}

func gaps(ts []float64) []int {
	var out []int
	for i := 1; i < len(ts); i++ {
		out = append(out, int(ts[i]-ts[i-1]))
	}
	return out
}
