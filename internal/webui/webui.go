// Package webui owns the pages served from the binary: the viewer page an edge
// serves at GET /watch/{stream}, and the seller console and go-live page an
// origin serves at GET /console and GET /golive/{stream}, with their static
// assets. Both play video with the same WHEP
// player (POST /whep/{stream} on the same host); the viewer page shows the
// shoppable overlays and places orders, the console calls the control API.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
	"github.com/livedrop/livedrop/internal/media"
)

//go:embed assets
var assets embed.FS

// contentTypes maps the extensions of the embedded assets to their media type.
// Set here rather than from the system's mime tables, which differ by host.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// asset is one static file, read once from the embedded FS.
type asset struct {
	body        []byte
	contentType string
	etag        string // quoted strong ETag
	version     string // short content hash, the ?v= of versioned URLs
}

// UI serves the viewer page, the seller console and their static assets.
// Build it with New.
type UI struct {
	page    *template.Template
	console *template.Template
	golive  *template.Template
	report  *template.Template
	sign    *template.Template
	desk    *template.Template
	static  map[string]*asset // by name under /static/ and /console/static/
	modTime time.Time
	// connect are the CSP connect-src sources of the siblings' origins.
	connect string
	// deskSW is the desk's service worker (desk.go).
	deskSW []byte
}

// consoleStaticPrefix is where the console's assets are served: apart from the
// viewer's /static/, so both pages can be mounted on one mux.
const consoleStaticPrefix = "/console/static/"

// New reads the embedded assets. It fails only if the binary was built with
// broken assets, which the package tests rule out.
func New() (*UI, error) {
	u := &UI{static: make(map[string]*asset), modTime: time.Now()}
	err := fs.WalkDir(assets, "assets/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("webui: asset %s: no content type for its extension", p)
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])
		u.static[path.Base(p)] = &asset{body: body, contentType: ct, etag: `"` + h[:32] + `"`, version: h[:12]}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("webui: read assets: %w", err)
	}
	pages := []struct {
		into   **template.Template
		name   string
		prefix string
	}{
		{&u.page, "watch.html", "/static/"},
		{&u.console, "console.html", consoleStaticPrefix},
		{&u.golive, "golive.html", consoleStaticPrefix},
		{&u.report, "report.html", consoleStaticPrefix},
		{&u.sign, "sign.html", consoleStaticPrefix},
		{&u.desk, "desk.html", consoleStaticPrefix},
	}
	for _, pg := range pages {
		t, err := template.New(pg.name).Funcs(template.FuncMap{"static": u.staticURL(pg.prefix)}).ParseFS(assets, "assets/"+pg.name)
		if err != nil {
			return nil, fmt.Errorf("webui: parse %s: %w", pg.name, err)
		}
		*pg.into = t
	}
	if u.deskSW, err = u.deskWorker(); err != nil {
		return nil, err
	}
	return u, nil
}

// staticURL returns a template function giving the versioned URL of a static
// asset under prefix, so browsers may cache it for good: a new build of the
// asset gets a new URL.
func (u *UI) staticURL(prefix string) func(name string) (string, error) {
	return func(name string) (string, error) {
		a, ok := u.static[name]
		if !ok {
			return "", fmt.Errorf("webui: no static asset %q", name)
		}
		return prefix + name + "?v=" + a.version, nil
	}
}

// Register adds the viewer page, GET /watch/{stream}, and its assets,
// GET /static/{name}, to mux. An edge mounts it.
func (u *UI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /watch/{stream}", u.serveWatch)
	mux.HandleFunc("GET /static/{name}", u.serveStatic)
}

// RegisterConsole adds the seller console, GET /console, the go-live page,
// GET /golive/{stream}, the event report page, GET /report/{drop}, a channel's printable QR sign,
// GET /sign/{drop}?ch=, and their assets, GET /console/static/{name}, to mux. An origin mounts it beside its control
// API; the page calls /v1/drops/..., /v1/streams/... and /whep/{stream} on the
// same host. It does not clash with Register: both may share one mux.
func (u *UI) RegisterConsole(mux *http.ServeMux) {
	mux.HandleFunc("GET /console", u.serveConsole)
	mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET "+consoleStaticPrefix+"{name}", u.serveStatic)
	mux.HandleFunc("GET /golive/{stream}", u.serveGoLive)
	mux.HandleFunc("GET /report/{drop}", u.serveReport)
	mux.HandleFunc("GET /sign/{drop}", u.serveSign)
	mux.HandleFunc("GET /desk", u.serveDesk) // desk.go
	mux.HandleFunc("GET "+DeskWorkerPath, u.serveDeskWorker)
}

// serveSign serves a channel's printable QR sign for a drop,
// GET /sign/{drop}?ch=: the stream's name, the next drop and the QR code of
// the watch link with that channel.
func (u *UI) serveSign(w http.ResponseWriter, r *http.Request) {
	drop, ch := r.PathValue("drop"), r.URL.Query().Get("ch")
	if !media.ValidName(drop) || ch == "" || kpi.Channel(ch) != ch {
		http.Error(w, "a sign needs a drop and ?ch= of 1-32 [a-z0-9_-]", http.StatusBadRequest)
		return
	}
	u.servePage(w, r, u.sign, struct{ Drop, Channel string }{drop, ch})
}

// serveReport serves the event report page of a drop: its figures from
// GET /v1/drops/{drop}/report, refreshed every second, with CSV and JSON
// downloads.
func (u *UI) serveReport(w http.ResponseWriter, r *http.Request) {
	drop := r.PathValue("drop")
	if !media.ValidName(drop) {
		http.NotFound(w, r)
		return
	}
	u.servePage(w, r, u.report, struct{ Drop string }{drop})
}

// Handler returns a handler that serves only the viewer page and its assets.
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	u.Register(mux)
	return mux
}

// ConsoleHandler returns a handler that serves only the console and its
// assets.
func (u *UI) ConsoleHandler() http.Handler {
	mux := http.NewServeMux()
	u.RegisterConsole(mux)
	return mux
}

// Handler returns a handler serving the viewer page and its assets from the
// embedded files.
func Handler() http.Handler {
	u, err := New()
	if err != nil {
		// The assets are compiled in and checked by the tests: a failure
		// here is a broken build, never a runtime condition.
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		})
	}
	return u.Handler()
}

type pageData struct {
	Stream string
}

func (u *UI) serveWatch(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if !media.ValidName(stream) {
		http.NotFound(w, r)
		return
	}
	u.servePage(w, r, u.page, pageData{Stream: stream})
}

// serveGoLive serves the go-live page: the seller publishes the browser's
// camera over WHIP (POST /whip/{stream} on the same host).
func (u *UI) serveGoLive(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if !media.ValidName(stream) {
		http.NotFound(w, r)
		return
	}
	u.servePage(w, r, u.golive, pageData{Stream: stream})
}

func (u *UI) serveConsole(w http.ResponseWriter, r *http.Request) {
	u.servePage(w, r, u.console, nil)
}

func (u *UI) servePage(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page is tiny and names versioned assets: always revalidate it so a
	// new build reaches viewers at once.
	h.Set("Cache-Control", "no-cache")
	setSecurityHeaders(h)
	h.Set("Content-Security-Policy", contentSecurityPolicy(r.Host, u.connect))
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// ConnectTo lets the pages connect to other nodes too (lower-case
// scheme://host[:port] origins): an edge's siblings, which a viewer page
// moves its video, events and orders to when its edge drains. Call it
// before the pages are served.
func (u *UI) ConnectTo(origins []string) {
	var b strings.Builder
	for _, o := range origins {
		ws, ok := strings.CutPrefix(o, "http://")
		scheme := "ws://"
		if !ok {
			if ws, ok = strings.CutPrefix(o, "https://"); !ok {
				continue
			}
			scheme = "wss://"
		}
		if !plainHost.MatchString(ws) {
			continue
		}
		b.WriteString(" " + o + " " + scheme + ws)
	}
	u.connect = b.String()
}

// plainHost matches a Host header that is a host name or address and an
// optional port, and nothing that could end a CSP source expression.
var plainHost = regexp.MustCompile(`^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// contentSecurityPolicy is the policy of both pages: scripts and styles of our
// own only; fetches to this host; the events WebSocket to this host (named
// as ws: and wss: as well as by 'self', which older browsers do not apply to
// WebSockets), and to the sources in extra (ConnectTo); media from the
// WebRTC MediaStream (blob:).
func contentSecurityPolicy(host, extra string) string {
	connect := "'self'"
	if plainHost.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	connect += extra
	return "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' data:; media-src 'self' blob:; connect-src " + connect + "; base-uri 'none'; " +
		"form-action 'none'; frame-ancestors 'none'"
}

func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := u.static[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	setSecurityHeaders(h)
	http.ServeContent(w, r, "", u.modTime, bytes.NewReader(a.body))
}

func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
