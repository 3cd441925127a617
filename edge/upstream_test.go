package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginsMoveOnceForAllPulls(t *testing.T) {
	o := newOrigins([]string{"http://a", "http://b", "http://c"}, http.DefaultClient)
	i, u := o.current()
	if i != 0 || u != "http://a" {
		t.Fatalf("current = %d %s, want the first origin", i, u)
	}
	if !o.failed(0) {
		t.Fatal("the first failure of the current origin did not move")
	}
	// A second pull that dialled a before the move reports it too: no move.
	if o.failed(0) {
		t.Fatal("a stale failure moved the current origin again")
	}
	if _, u := o.current(); u != "http://b" {
		t.Fatalf("current = %s, want http://b", u)
	}
	o.failed(1)
	o.failed(2)
	if _, u := o.current(); u != "http://a" {
		t.Fatalf("after the last origin failed, current = %s, want the first again", u)
	}
	one := newOrigins([]string{"http://a"}, http.DefaultClient)
	if one.failed(0) {
		t.Fatal("a single origin cannot move")
	}
}

func TestOriginsAlive(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	down.Close() // nothing listens there any more
	o := newOrigins([]string{up.URL, down.URL}, http.DefaultClient)
	if err := o.alive(context.Background(), up.URL+"/"); err != nil {
		t.Fatalf("a live origin is not alive: %v", err)
	}
	if err := o.alive(context.Background(), down.URL); err == nil {
		t.Fatal("a closed origin is alive")
	}
}

func TestConfigOrigins(t *testing.T) {
	c := DefaultConfig()
	c.Access.NodeSecrets = []string{"0123456789abcdef0123"}
	if got := c.Origins(); len(got) != 1 || got[0] != c.OriginURL {
		t.Fatalf("Origins() = %v, want origin_url alone", got)
	}
	c.OriginURLs = []string{"http://a:8081", "http://b:8081"}
	if got := c.Origins(); len(got) != 2 || got[1] != "http://b:8081" {
		t.Fatalf("Origins() = %v, want origin_urls", got)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		urls []string
		want string
	}{
		{[]string{"http://a:8081", "ftp://b"}, `origin_urls: "ftp://b" is not an http(s) base URL`},
		{[]string{"http://a:8081", "http://a:8081"}, `origin_urls: "http://a:8081" is listed twice`},
	} {
		c.OriginURLs = tc.urls
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Validate(%v) = %v, want %q", tc.urls, err, tc.want)
		}
	}
}
