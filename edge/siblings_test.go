package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// TestDrainSkipsSiblingsNotReady: of four siblings one is draining (its
// /readyz says 503), one is gone (nothing listens) and one hangs past the
// probe's bound; the two that answer ready are the move targets, in list
// order, so viewers told in turn spread over them and never the others.
func TestDrainSkipsSiblingsNotReady(t *testing.T) {
	serve := func(code int) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	ready1, draining, ready2 := serve(200), serve(503), serve(200)
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hang); slow.Close() })
	// A closed server's address: a refused dial.
	goneSrv := httptest.NewServer(http.NotFoundHandler())
	gone := goneSrv.URL
	goneSrv.Close()

	start := time.Now()
	got := readySiblings(context.Background(), http.DefaultClient, []string{ready1, draining, gone, slow.URL, ready2}, 500*time.Millisecond)
	took := time.Since(start)
	if want := []string{ready1, ready2}; !slices.Equal(got, want) {
		t.Fatalf("move targets %v, want the ready siblings %v", got, want)
	}
	// The probes run at once: one hanging sibling costs one bound, not one each.
	if took > 5*time.Second {
		t.Fatalf("probing took %v", took)
	}
	var to []string
	for i := range 4 {
		to = append(to, got[i%len(got)])
	}
	if want := []string{ready1, ready2, ready1, ready2}; !slices.Equal(to, want) {
		t.Fatalf("four viewers told %v, want them spread %v", to, want)
	}
	if got := readySiblings(context.Background(), http.DefaultClient, []string{draining, gone}, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("no sibling ready, yet targets %v", got)
	}
}
