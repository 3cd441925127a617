package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
)

// TestDemoBuiltInCamera runs `livedrop demo` in-process, as a user would,
// on free ports: the built-in camera publishes the shipped clip over RTSP,
// and a WHEP viewer at the demo's edge decodes it.
// startDemo runs `livedrop demo` in-process, as a user would, on free
// ports, until the test ends, with extra variables set. It returns the
// nodes' addresses and what the demo printed.
func startDemo(t *testing.T, extra ...map[string]string) (app.Addrs, string) {
	t.Helper()
	var (
		mu     sync.Mutex
		addrs  app.Addrs
		stdout strings.Builder
	)
	bindAttempts(t, "start demo", func() error {
		env := map[string]string{
			"LIVEDROP_ORIGIN_HTTP_ADDR": "127.0.0.1:0",
			"LIVEDROP_EDGE_HTTP_ADDR":   "127.0.0.1:0",
			"LIVEDROP_RTSP_ADDR":        "127.0.0.1:0",
			"LIVEDROP_DATA_DIR":         t.TempDir(), // a failed try may leave a node behind
			"LIVEDROP_CONTROL_TOKEN":    demoToken,
			// Buyers' sessions: the tests mint them with buyertest's secret.
			"LIVEDROP_SESSION_SECRET": buyertest.Secret,
			// The demo's nodes each carry all media on one UDP port (ICE mux).
			"LIVEDROP_ORIGIN_ICE_UDP_PORT": fmt.Sprint(freeUDPPort(t)),
			"LIVEDROP_EDGE_ICE_UDP_PORT":   fmt.Sprint(freeUDPPort(t)),
		}
		for _, m := range extra {
			for k, v := range m {
				env[k] = v
			}
		}
		mu.Lock()
		stdout.Reset()
		mu.Unlock()
		ready := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- app.Main(ctx, []string{"demo"}, app.Env{
				Stdout: &syncWriter{mu: &mu, w: &stdout}, Stderr: io.Discard,
				Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				Ready: func(a app.Addrs) {
					mu.Lock()
					addrs = a
					mu.Unlock()
					close(ready)
				},
			})
		}()
		select {
		case <-ready:
		case err := <-done:
			cancel()
			return fmt.Errorf("demo exited early: %w", err)
		case <-time.After(20 * time.Second):
			cancel()
			t.Fatal("demo did not start")
		}
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("demo exited with %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("demo did not stop within 15 s")
			}
		})
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	return addrs, stdout.String()
}

func TestDemoBuiltInCamera(t *testing.T) {
	requireTool(t, "ffprobe")
	addrs, banner := startDemo(t)
	edgeAddr := addrs.EdgeHTTP
	for _, want := range []string{"/watch/demo", "password", "rtsp://", "/console"} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}

	resp, err := http.Get("http://" + edgeAddr + "/watch/demo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("viewer page: %d", resp.StatusCode)
	}

	var v *viewer
	waitFor(t, 20*time.Second, "the built-in camera's stream at the edge", func() bool {
		v, err = dialViewer(t, "http://"+edgeAddr+"/whep/demo")
		return err == nil
	})
	waitFor(t, 15*time.Second, "two seconds of video and audio", func() bool {
		_, na := v.counts()
		return v.frames() >= 60 && na > 80
	})
	pkts := v.videoPackets()
	checkContinuous(t, pkts)
	aus := accessUnits(t, pkts)
	if n := decodeFrames(t, aus); n < 45 {
		t.Fatalf("decoded %d frames of the demo clip", n)
	}

	// Checkout on the embedded store: the seller creates and opens a drop
	// at the origin, a viewer buys at the edge.
	ctl := "http://" + addrs.OriginHTTP
	call(t, "POST", ctl+"/v1/drops", "", `{"id":"d1","stream":"demo","skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":3,"max_per_buyer":2}]}`, 401)
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"d1","stream":"demo","skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":3,"max_per_buyer":2}]}`, 201)
	buy := "http://" + edgeAddr + "/v1/drops/d1/orders"
	callKey(t, buy, "k0", `{"sku":"tee","qty":1,"buyer":"ann"}`, 401)        // no session
	callKey(t, buy, "k0", `{"sku":"tee","qty":1,"buyer":"ann"}`, 403, "ann") // not open yet
	call(t, "POST", ctl+"/v1/drops/d1/open", demoToken, "", 200)
	body := callKey(t, buy, "k1", `{"sku":"tee","qty":2,"buyer":"ann"}`, 201, "ann")
	var order struct {
		ID     string `json:"id"`
		Qty    int    `json:"qty"`
		Status string `json:"status"`
		Token  string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &order); err != nil || order.Qty != 2 || order.ID == "" {
		t.Fatalf("order %s (%v)", body, err)
	}
	if again := callKey(t, buy, "k1", `{"sku":"tee","qty":2,"buyer":"ann"}`, 201, "ann"); !strings.Contains(again, order.ID) {
		t.Fatalf("retry with the same key returned another order: %s", again)
	}
	callKey(t, buy, "k2", `{"sku":"tee","qty":2,"buyer":"bob"}`, 409, "bob") // one unit left
	callKey(t, buy, "k3", `{"sku":"tee","qty":1,"buyer":"bob"}`, 201, "bob")
	call(t, "GET", "http://"+edgeAddr+"/v1/orders/"+order.ID+"?token="+order.Token, "", "", 200)
	call(t, "GET", "http://"+edgeAddr+"/v1/orders/"+order.ID, "", "", 403) // the id alone reads nothing
	waitFor(t, 10*time.Second, "the drop's totals to show 3 sold", func() bool {
		return strings.Contains(call(t, "GET", ctl+"/v1/drops/d1", demoToken, "", 200), `"sold":3`)
	})

	// livedrop loadgen buyers: 400 buyers for 50 units, as a user runs it.
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"d2","stream":"demo","skus":[{"sku":"cap","name":"Cap","price_cents":1500,"currency":"EUR","stock":50,"max_per_buyer":1}]}`, 201)
	call(t, "POST", ctl+"/v1/drops/d2/open", demoToken, "", 200)
	var out strings.Builder
	err = app.Main(context.Background(), []string{"loadgen", "buyers", "--edge", "http://" + edgeAddr,
		"--drop", "d2", "--sku", "cap", "--buyers", "400", "--concurrency", "100"}, app.Env{Stdout: &out, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("loadgen: %v\n%s", err, out.String())
	}
	var sum struct {
		Accepted    int            `json:"accepted"`
		Final       map[string]int `json:"final"`
		Errors      int            `json:"errors"`
		Unanswered  int            `json:"unanswered"`
		Consistency struct {
			OK bool `json:"ok"`
		} `json:"consistency"`
	}
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("loadgen output is not JSON: %v\n%s", err, out.String())
	}
	// A first answer may be 503 "held" while another request holds a unit;
	// what each buyer ends with is the definitive answer.
	if sum.Accepted != 50 || sum.Final["order"] != 50 || sum.Final["sold_out"] != 350 || sum.Errors != 0 || sum.Unanswered != 0 || !sum.Consistency.OK {
		t.Fatalf("loadgen summary: %s", out.String())
	}
}

const demoToken = "demo-token-0123456789"

func call(t *testing.T, method, url, token, body string, want int) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req, want)
}

// buyers are the tests' signed-in buyers: sessions minted with the
// secret the tests give the edges (LIVEDROP_SESSION_SECRET).
var (
	buyersOnce sync.Once
	buyers     *buyertest.Buyers
)

func signedIn(t *testing.T) *buyertest.Buyers {
	buyersOnce.Do(func() { buyers = buyertest.New(t, "") })
	return buyers
}

// callKey posts an order with an Idempotency-Key, as the buyer called
// as[0] when given (else without a session).
func callKey(t *testing.T, url, key, body string, want int, as ...string) string {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	if len(as) > 0 {
		req.Header.Set("Authorization", signedIn(t).Bearer(as[0]))
	}
	return do(t, req, want)
}

func do(t *testing.T, req *http.Request, want int) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL, resp.StatusCode, b, want)
	}
	return string(b)
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
