package e2e

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
)

// loadgenSummary is what TestLoadgenBuysAGatedDrop reads of the summary.
type loadgenSummary struct {
	Accepted    int            `json:"accepted"`
	Final       map[string]int `json:"final"`
	Unanswered  int            `json:"unanswered"`
	Consistency struct {
		OK bool `json:"ok"`
	} `json:"consistency"`
	Gate struct {
		Solved        int    `json:"pow_solved"`
		MaxBits       int    `json:"pow_max_bits"`
		WatchSessions int    `json:"watch_sessions"`
		WatchProofs   int    `json:"watch_proofs"`
		Failed        int    `json:"failed"`
		FirstError    string `json:"first_error"`
	} `json:"gate"`
}

func runLoadgen(t *testing.T, args ...string) loadgenSummary {
	t.Helper()
	var out strings.Builder
	if err := app.Main(context.Background(), append([]string{"loadgen", "buyers"}, args...), app.Env{Stdout: &out, Stderr: io.Discard}); err != nil {
		t.Fatalf("loadgen %v: %v\n%s", args, err, out.String())
	}
	var sum loadgenSummary
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("loadgen output is not JSON: %v\n%s", err, out.String())
	}
	t.Logf("loadgen %v: %s", args, out.String())
	return sum
}

// TestLoadgenBuysAGatedDrop: `livedrop loadgen buyers` against a drop that
// asks 2 s of watch time and a proof of work. Without proving, every buyer
// is refused by the gate and nothing sells; with --watch-stream and --pow
// each buyer watches the demo's stream over WHEP, solves its edge's
// challenge, and the stock sells out to them with the books balanced.
func TestLoadgenBuysAGatedDrop(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"lgate","stream":"demo","gate":{"watch_seconds":2,"proof_of_work":true},
		"skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":10,"max_per_buyer":1}]}`, 201)
	call(t, "POST", ctl+"/v1/drops/lgate/open", demoToken, "", 200)
	common := []string{"--edge", edgeURL, "--drop", "lgate", "--sku", "tee", "--totals-url", ctl, "--control-token", demoToken}

	bare := runLoadgen(t, append(common, "--buyers", "20", "--buyer-prefix", "bare")...)
	if bare.Accepted != 0 || bare.Final["watch_required"] != 20 || !bare.Consistency.OK {
		t.Fatalf("buyers without proofs: accepted %d, final %v, consistent %v", bare.Accepted, bare.Final, bare.Consistency.OK)
	}

	waitFor(t, 20*time.Second, "the built-in camera's stream at the edge", func() bool {
		_, err := dialViewer(t, edgeURL+"/whep/demo")
		return err == nil
	})
	sum := runLoadgen(t, append(common, "--buyers", "30", "--buyer-prefix", "proven",
		"--pow", "--watch-stream", "demo", "--watch-for", "2s")...)
	g := sum.Gate
	if g.Failed != 0 || g.WatchSessions != 30 || g.WatchProofs != 30 || g.Solved < 30 || g.MaxBits < 16 {
		t.Fatalf("gate preparation: %+v", g)
	}
	if sum.Accepted != 10 || sum.Final["order"] != 10 || sum.Final["sold_out"] != 20 || sum.Unanswered != 0 || !sum.Consistency.OK {
		t.Fatalf("proven buyers: accepted %d, final %v, unanswered %d, consistent %v", sum.Accepted, sum.Final, sum.Unanswered, sum.Consistency.OK)
	}
	if got := metricSum(t, edgeURL, "livedrop_order_gate_refusals_total", `reason="watch_missing"`); got < 20 {
		t.Errorf("watch_missing refusals %v, want >= 20 (the bare run)", got)
	}
}
