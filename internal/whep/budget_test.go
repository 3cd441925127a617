package whep

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/internal/leakcheck"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// benchBudget lets one test process hold hundreds of sessions from
// 127.0.0.1, as the forwarding benchmarks do.
var benchBudget = Budget{MaxSessions: 1 << 16, MaxSessionsPerIP: 1 << 16, OffersPerSecondPerIP: 1e6, OfferBurstPerIP: 1 << 20, ICETimeout: time.Minute}

type budgetServer struct {
	srv *Server
	m   *mediametrics.Metrics
	mux *http.ServeMux
	url string
}

// startBudgetServer serves one live stream with budget b; the client's
// address is what X-Test-Client says (several addresses from one test).
func startBudgetServer(t testing.TB, b Budget) *budgetServer {
	t.Helper()
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New("s", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}})
	srv := NewServer(ServerParams{API: api, Source: &countingSource{st: st}, Logger: slog.New(slog.DiscardHandler), Metrics: m, Role: "edge", Budget: b})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := r.Header.Get("X-Test-Client"); c != "" {
			r.RemoteAddr = c + ":5000"
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		_ = closeICE()
		st.Close()
	})
	return &budgetServer{srv: srv, m: m, mux: mux, url: hs.URL}
}

// offer posts a fresh offer on a fresh connection, as a flood does.
func (b *budgetServer) offer(t testing.TB, client string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.url+"/whep/s", strings.NewReader(chromiumOffer))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("X-Test-Client", client)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, sb.String()
}

func heapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// TestOfferFloodFromOneAddress: 3,000 offers from one address, none of
// which ever connects, as the flood that used to leave 700 half-open
// sessions, 10.6k goroutines and 290 MiB: at most the per-address cap is
// answered 201, the rest 429 with Retry-After, before any peer connection
// is made; goroutines and memory stay bounded; the half-open sessions are
// closed at the ICE timeout and counted, and their places come back.
func TestOfferFloodFromOneAddress(t *testing.T) {
	const perIP = 20
	b := startBudgetServer(t, Budget{MaxSessions: 100, MaxSessionsPerIP: perIP, OffersPerSecondPerIP: 1e6, OfferBurstPerIP: 1e6, ICETimeout: time.Second})
	goroutines, heap := runtime.NumGoroutine(), heapMiB()

	var mu sync.Mutex
	codes := map[int]int{}
	var missingRetry int
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for range next {
				code, h, _ := b.offer(t, "10.1.1.1")
				mu.Lock()
				codes[code]++
				if code == 429 && h.Get("Retry-After") == "" {
					missingRetry++
				}
				mu.Unlock()
			}
		})
	}
	for i := range 3000 {
		next <- i
	}
	close(next)
	wg.Wait()
	// The 1 s ICE timeout frees places during the flood: every 201 is a
	// session still open or one the timeout closed, never more than the
	// cap at once.
	open, closed := b.srv.Sessions(""), int(testutil.ToFloat64(b.m.HalfOpenClosed))
	if codes[201]+codes[429] != 3000 || codes[201] != open+closed || open > perIP || codes[201] > perIP+closed || missingRetry != 0 {
		t.Fatalf("answers %v (%d 429s without Retry-After), %d sessions open, %d closed half-open; want at most %d open at once, the rest 429",
			codes, missingRetry, open, closed, perIP)
	}
	// Each of the 20 live sessions holds its peer connection's goroutines;
	// the 2,980 refusals hold none.
	if g := runtime.NumGoroutine() - goroutines; g > perIP*40 {
		t.Fatalf("%d more goroutines after the flood, want at most %d", g, perIP*40)
	}
	if h := heapMiB() - heap; h > 64 {
		t.Fatalf("heap grew %.0f MiB over the flood, want under 64", h)
	}
	if got := testutil.ToFloat64(b.m.SetupFailures.WithLabelValues("ip_cap")); int(got) != codes[429] {
		t.Fatalf("ip_cap refusals counted %v, answered %d", got, codes[429])
	}

	// No ICE ever: the timeout closes them all.
	deadline := time.Now().Add(10 * time.Second)
	for b.srv.Sessions("") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d half-open sessions still open 10 s after a 1 s ICE timeout", b.srv.Sessions(""))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(b.m.HalfOpenClosed); int(got) != codes[201] {
		t.Fatalf("half-open closes counted %v, want all %d sessions", got, codes[201])
	}
	if leak := leakcheck.Leaked(5*time.Second, "whep.(*session)", "webrtc.(*PeerConnection)", "ice.(*Agent)", "fanout.(*writer)"); leak != "" {
		t.Fatalf("goroutines of closed sessions left behind:\n%s", leak)
	}
	if code, _, body := b.offer(t, "10.1.1.1"); code != 201 {
		t.Fatalf("after the half-open sessions closed, an offer got %d %q", code, body)
	}
}

// TestOfferBudgets: the node's cap answers 503, an address's offer rate
// 429 with the wait, and other addresses are not held back by one.
func TestOfferBudgets(t *testing.T) {
	b := startBudgetServer(t, Budget{MaxSessions: 3, MaxSessionsPerIP: 2, OffersPerSecondPerIP: 0.5, OfferBurstPerIP: 2, ICETimeout: time.Minute})
	for i, want := range []int{201, 201} {
		if code, _, body := b.offer(t, "10.0.0.1"); code != want {
			t.Fatalf("offer %d from A: %d %q", i, code, body)
		}
	}
	if code, _, body := b.offer(t, "10.0.0.1"); code != 429 || !strings.Contains(body, "at most 2 sessions per address") {
		t.Fatalf("third from A: %d %q, want 429 (address cap)", code, body)
	}
	if code, _, body := b.offer(t, "10.0.0.2"); code != 201 {
		t.Fatalf("first from B: %d %q", code, body)
	}
	code, _, body := b.offer(t, "10.0.0.3")
	if code != 503 || !strings.Contains(body, "as many sessions as it can") {
		t.Fatalf("over the node's cap: %d %q, want 503", code, body)
	}

	r := startBudgetServer(t, Budget{MaxSessions: 100, MaxSessionsPerIP: 100, OffersPerSecondPerIP: 0.5, OfferBurstPerIP: 2, ICETimeout: time.Minute})
	for range 2 {
		if code, _, body := r.offer(t, "10.0.0.9"); code != 201 {
			t.Fatalf("within the burst: %d %q", code, body)
		}
	}
	code, h, body := r.offer(t, "10.0.0.9")
	if code != 429 || !strings.Contains(body, "too many offers") || h.Get("Retry-After") != "2" {
		t.Fatalf("over the offer rate: %d %q Retry-After %q, want 429 and 2", code, body, h.Get("Retry-After"))
	}
	if code, _, _ := r.offer(t, "10.0.0.10"); code != 201 {
		t.Fatalf("another address was held back: %d", code)
	}
	if got := testutil.ToFloat64(r.m.SetupFailures.WithLabelValues("rate")); got != 1 {
		t.Fatalf("rate refusals counted %v", got)
	}
}

// TestBudgetForgetsIdleAddresses: an address with no session is
// forgotten once its allowance is whole again: memory follows the live
// sessions, not every address ever seen.
func TestBudgetForgetsIdleAddresses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newBudget(Budget{MaxSessions: 1 << 20, MaxSessionsPerIP: 4, OffersPerSecondPerIP: 10, OfferBurstPerIP: 10, ICETimeout: time.Second},
		func() time.Time { return now })
	var keep func()
	for i := range 10000 {
		release, ref := b.admit(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
		if ref != nil {
			t.Fatal(ref.msg)
		}
		if i == 0 {
			keep = release
		} else {
			release()
		}
	}
	now = now.Add(3 * time.Second)
	if _, ref := b.admit("192.0.2.1"); ref != nil {
		t.Fatal(ref.msg)
	}
	if n := b.addresses(); n != 2 {
		t.Fatalf("%d addresses remembered, want 2 (one with a session, the newcomer)", n)
	}
	keep()
}

// BenchmarkOfferRefused is the cost of an offer refused at the address
// cap: offers/s refused, and bytes per refused offer (-benchmem).
func BenchmarkOfferRefused(b *testing.B) {
	s := startBudgetServer(b, Budget{MaxSessions: 10, MaxSessionsPerIP: 1, OffersPerSecondPerIP: 1e9, OfferBurstPerIP: 1 << 30, ICETimeout: time.Minute})
	if code, _, _ := s.offer(b, "10.0.0.1"); code != 201 {
		b.Fatal(code)
	}
	body := chromiumOffer
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodPost, "/whep/s", strings.NewReader(body)).WithContext(context.Background())
		req.Header.Set("Content-Type", "application/sdp")
		req.RemoteAddr = "10.0.0.1:5000"
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, req)
		if rec.Code != 429 {
			b.Fatal(rec.Code)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refused/s")
}
