package httpnode

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type slowService struct{ ready atomic.Bool }

func (s *slowService) Register(mux *http.ServeMux) {}
func (s *slowService) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
func (s *slowService) Ready(context.Context) (bool, string) {
	if !s.ready.Load() {
		return false, "replaying its journal"
	}
	return true, ""
}

func get(t *testing.T, url string) int {
	t.Helper()
	code, _ := getBody(t, url)
	return code
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyzWaitsForServices: /healthz is up at once, /readyz only once
// every service that can be unready is ready, and not during the drain.
func TestReadyzWaitsForServices(t *testing.T) {
	svc := &slowService{}
	n, err := New(Params{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), Grace: time.Second, Services: []Service{svc}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, nil) }()
	base := "http://" + n.Addr()
	deadline := time.Now().Add(5 * time.Second)
	for get(t, base+"/healthz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("healthz never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := getBody(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: replaying its journal\n" {
		t.Fatalf("readyz %d %q while a service is starting, want 503 with its reason", code, body)
	}
	svc.ready.Store(true)
	if code, body := getBody(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("readyz %d %q once ready, want 200 ready", code, body)
	}
	if code, body := getBody(t, base+"/metrics"); code != 200 || !strings.Contains(body, "\nlivedrop_ready 1\n") {
		t.Fatalf("metrics %d, want livedrop_ready 1 after a ready /readyz", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
