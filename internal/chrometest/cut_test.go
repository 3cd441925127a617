package chrometest_test

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
)

// cutServer serves a handler on a fixed loopback address whose listener a
// test can take down and bring back: while it is cut every request to it,
// the page's, its service worker's, a reload's, fails as it does when a
// venue's uplink drops (connection refused), which DevTools' offline switch
// does not do for a service worker's own fetches.
type cutServer struct {
	t    *testing.T
	h    http.Handler
	addr string

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

// startCutServer serves h on 127.0.0.1 until the test ends.
func startCutServer(t *testing.T, h http.Handler) *cutServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutServer{t: t, h: h, addr: ln.Addr().String()}
	c.serve(ln)
	t.Cleanup(c.Cut)
	return c
}

// URL is the server's base URL (the same across cuts).
func (c *cutServer) URL() string { return "http://" + c.addr }

func (c *cutServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: c.h}
	done := make(chan struct{})
	c.srv, c.done = srv, done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.t.Errorf("cut server: %v", err)
		}
	}()
}

// Cut closes the listener and every open connection; requests fail until
// Restore.
func (c *cutServer) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return
	}
	_ = c.srv.Close()
	<-c.done
	c.srv = nil
}

// Restore listens on the same address again.
func (c *cutServer) Restore() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.t.Fatalf("cut server: listen again on %s: %v", c.addr, err)
	}
	c.serve(ln)
}
