package deploy

// The metrics every node exports, and the checks that each is on a panel.

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// metricTypes are the metrics livedrop nodes export, by type.
var metricTypes = map[string]string{
	// media
	"livedrop_streams":                        "gauge",
	"livedrop_publishers":                     "gauge",
	"livedrop_viewers":                        "gauge",
	"livedrop_rtp_packets_received_total":     "counter",
	"livedrop_rtp_bytes_received_total":       "counter",
	"livedrop_rtp_packets_sent_total":         "counter",
	"livedrop_rtp_bytes_sent_total":           "counter",
	"livedrop_rtp_packets_dropped_total":      "counter",
	"livedrop_upstream_up":                    "gauge",
	"livedrop_upstream_dials_total":           "counter",
	"livedrop_sessions_created_total":         "counter",
	"livedrop_session_setup_failures_total":   "counter",
	"livedrop_publish_auth_failures_total":    "counter",
	"livedrop_time_to_first_keyframe_seconds": "histogram",
	"livedrop_audio_tracks_dropped_total":     "counter",
	"livedrop_nacked_packets_total":           "counter",
	"livedrop_retransmissions_total":          "counter",
	"livedrop_keyframe_requests_total":        "counter",
	"livedrop_gop_starts_total":               "counter",
	"livedrop_forward_latency_seconds":        "histogram",
	"livedrop_ingest_errors_total":            "counter",
	"livedrop_media_send_packets_total":       "counter",
	"livedrop_media_writers":                  "gauge",
	"livedrop_media_session_paths_total":      "counter",
	"livedrop_media_send_datagrams_total":     "counter",
	"livedrop_media_send_syscalls_total":      "counter",
	"livedrop_media_send_errors_total":        "counter",
	// overlays
	"livedrop_overlay_events_total":   "counter",
	"livedrop_overlay_subscribers":    "gauge",
	"livedrop_overlay_fanout_seconds": "histogram",
	"livedrop_overlay_resyncs_total":  "counter",
	// checkout
	"livedrop_checkout_orders_total":           "counter",
	"livedrop_checkout_answer_seconds":         "histogram",
	"livedrop_checkout_key_lookups_total":      "counter",
	"livedrop_checkout_held_answers_total":     "counter",
	"livedrop_checkout_ship_latency_seconds":   "histogram",
	"livedrop_checkout_accept_latency_seconds": "histogram",
	"livedrop_checkout_lease_units":            "gauge",
	"livedrop_checkout_lease_refills_total":    "counter",
	"livedrop_checkout_journal_fsync_seconds":  "histogram",
	"livedrop_checkout_journal_batch_size":     "histogram",
	"livedrop_checkout_sync_lag_seconds":       "gauge",
	"livedrop_checkout_revenue_cents_total":    "counter",
	// event KPIs (docs/kpi.md)
	"livedrop_event_orders_total":     "counter",
	"livedrop_event_units_sold_total": "counter",
	"livedrop_event_gmv_cents_total":  "counter",
	// security
	"livedrop_auth_failures_total":             "counter",
	"livedrop_auth_lockouts_total":             "counter",
	"livedrop_sessions_halfopen_closed_total":  "counter",
	"livedrop_rtsp_refused_total":              "counter",
	"livedrop_overlay_websocket_refused_total": "counter",
	"livedrop_http_refused_total":              "counter",
	"livedrop_ready":                           "gauge",
	"livedrop_checkout_journal_damaged_total":  "counter",
	// ingest: WHIP and AAC
	"livedrop_whip_publish_attempts_total":     "counter",
	"livedrop_whip_sessions":                   "gauge",
	"livedrop_whip_packets_received_total":     "counter",
	"livedrop_whip_connect_timeouts_total":     "counter",
	"livedrop_whip_keyframe_requests_total":    "counter",
	"livedrop_whip_remb_sent_total":            "counter",
	"livedrop_transcode_frames_in_total":       "counter",
	"livedrop_transcode_frames_out_total":      "counter",
	"livedrop_transcode_dropped_total":         "counter",
	"livedrop_transcode_errors_total":          "counter",
	"livedrop_transcode_restarts_total":        "counter",
	"livedrop_transcode_added_latency_seconds": "histogram",
	// checkout internals
	"livedrop_checkout_payments_total":              "counter",
	"livedrop_checkout_holds_expired_total":         "counter",
	"livedrop_checkout_shipped_orders_total":        "counter",
	"livedrop_checkout_unshipped_orders":            "gauge",
	"livedrop_checkout_lease_grant_units":           "histogram",
	"livedrop_checkout_lease_reclaimed_units_total": "counter",
	"livedrop_checkout_rsvp_units_reserved_total":   "counter",
	"livedrop_checkout_rsvp_redeemed_total":         "counter",
	"livedrop_checkout_rsvp_returned_units_total":   "counter",
	"livedrop_checkout_rsvp_cancelled_total":        "counter",
	// failover and shared state across origins
	"livedrop_upstream_failovers_total":    "counter",
	"livedrop_overlay_shared_boards_total": "counter",
	"livedrop_edge_viewers_moved_total":    "counter",
	"livedrop_edge_move_duration_seconds":  "histogram",
	// fair drops: purchase proofs
	"livedrop_proofs_issued_total":       "counter",
	"livedrop_watch_proofs_denied_total": "counter",
	"livedrop_order_gate_refusals_total": "counter",
	"livedrop_order_gate_passed_total":   "counter",
	"livedrop_pow_difficulty_bits":       "gauge",
	"livedrop_pow_solve_seconds":         "histogram",
	// buyers and purchase limits
	"livedrop_buyer_signins_total":                 "counter",
	"livedrop_buyer_codes_sent_total":              "counter",
	"livedrop_buyer_code_send_seconds":             "histogram",
	"livedrop_buyer_code_verify_failures_total":    "counter",
	"livedrop_buyer_code_lockouts_total":           "counter",
	"livedrop_buyer_session_verify_failures_total": "counter",
	"livedrop_buyer_consent_withdrawals_total":     "counter",
	"livedrop_checkout_limit_refusals_total":       "counter",
	"livedrop_checkout_rate_limited_total":         "counter",
	"livedrop_checkout_allowance_events_total":     "counter",
	"livedrop_checkout_limiter_entries":            "gauge",
	// the journal's checkpoints
	"livedrop_checkout_journal_bytes":              "gauge",
	"livedrop_checkout_journal_checkpoints_total":  "counter",
	"livedrop_checkout_journal_checkpoint_seconds": "histogram",
	"livedrop_checkout_journal_replayed_records":   "gauge",
	// opening lotteries
	"livedrop_checkout_lottery_entries_total":         "counter",
	"livedrop_checkout_lottery_draw_duration_seconds": "histogram",
	// member early access
	"livedrop_checkout_member_orders_total": "counter",
	// the seller's refunds
	"livedrop_checkout_refunds_total": "counter",
	// pickup desks
	"livedrop_pickup_orders":          "gauge",
	"livedrop_pickup_collected_total": "counter",
	"livedrop_pickup_conflicts_total": "counter",
	"livedrop_pickup_notices_total":   "counter",
	// pickup code emails retried
	"livedrop_pickup_notice_failures_total": "counter",
	// live auctions
	"livedrop_auction_bids_total":            "counter",
	"livedrop_auction_bid_seconds":           "histogram",
	"livedrop_auction_updates_dropped_total": "counter",
	"livedrop_auction_lots_won_total":        "counter",
	"livedrop_auction_lots_unsold_total":     "counter",
	"livedrop_auction_uplift_cents_total":    "counter",
	// the seller's drop catalogue and photos
	"livedrop_checkout_drop_edits_total":    "counter",
	"livedrop_checkout_photo_uploads_total": "counter",
	// wallets (prepaid credits)
	"livedrop_wallet_topups_total":      "counter",
	"livedrop_wallet_topup_cents_total": "counter",
	"livedrop_wallet_spends_total":      "counter",
	"livedrop_wallet_refunds_total":     "counter",
	"livedrop_wallet_liability_cents":   "gauge",
	"livedrop_wallet_holds_total":       "counter",
	"livedrop_wallet_refused_total":     "counter",
	// viewer KPIs: joins, watch time (internal/viewlog)
	"livedrop_event_viewer_joins_total":        "counter",
	"livedrop_event_watch_seconds":             "histogram",
	"livedrop_event_view_events_dropped_total": "counter",
	"livedrop_event_view_events_saved_total":   "counter",
	"livedrop_event_view_events_unsaved":       "gauge",
	// giveaways (checkout/giveaway)
	"livedrop_giveaways_started_total": "counter",
	"livedrop_giveaway_entries_total":  "counter",
	"livedrop_giveaway_draws_total":    "counter",
	// Prometheus and the Go and process collectors
	"up":                        "gauge",
	"process_cpu_seconds_total": "counter",
	"go_goroutines":             "gauge",
	// lottery waitlists (fair drops)
	"livedrop_checkout_waitlist_offers_total":   "counter",
	"livedrop_checkout_rsvp_early_access_total": "counter",
}

// knownMetric reports whether a series name is one a node or Prometheus
// exports: a listed metric, a histogram's _bucket/_sum/_count, or one of the
// standard Go and process collectors' series.
func knownMetric(name string) bool {
	if _, ok := metricTypes[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && metricTypes[base] == "histogram" {
			return true
		}
	}
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
}

func baseMetric(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && metricTypes[base] == "histogram" {
			return base
		}
	}
	return name
}

var (
	reStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	reMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	reRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reOffset    = regexp.MustCompile(`\boffset\s+-?\w+`)
	reVariables = regexp.MustCompile(`\$\{?\w+\}?`)
	reNumbers   = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b`)
	reIdent     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlWords = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true,
		"offset": true, "inf": true, "nan": true, "Inf": true, "NaN": true, "atan2": true,
	}
)

// metricNames returns the metric names a PromQL expression selects. It is a
// small lexer, not a parser: enough for the expressions in deploy/.
func metricNames(expr string) []string {
	s := reStrings.ReplaceAllString(expr, `""`)
	s = reMatchers.ReplaceAllString(s, " ")
	s = reRanges.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	s = reOffset.ReplaceAllString(s, " ")
	s = reVariables.ReplaceAllString(s, " ")
	s = reNumbers.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if promqlWords[name] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		names = append(names, name)
	}
	return names
}

// TestEveryMetricIsListed: each metric the code registers (a literal
// Name: "livedrop_..." in a collector's options) is in metricTypes, and so,
// by TestDashboard, on a panel.
func TestEveryMetricIsListed(t *testing.T) {
	re := regexp.MustCompile(`Name:\s*"(livedrop_[a-z0-9_]+)"`)
	found := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(src, -1) {
			found[string(m[1])] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 50 {
		t.Fatalf("found only %d metric names in the sources: the scan is broken", len(found))
	}
	for _, name := range sortedKeys(found) {
		if _, ok := metricTypes[name]; !ok {
			t.Errorf("%s (registered in %s) is not in metricTypes: list it and put it on a dashboard panel", name, found[name])
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`up{job=~"origin|edge"} == 0`: {"up"},
		`histogram_quantile(0.99, sum by (instance, le) (rate(x_bucket{a="b"}[5m]))) > 0.05`:                 {"x_bucket"},
		`sum by (stream) (rate(a_total[$__rate_interval])) / clamp_min(sum(rate(b_total[5m] offset 1h)), 1)`: {"a_total", "b_total"},
		`(a - b) > 0 and on (instance) c`:                                  {"a", "b", "c"},
		`sum(increase(rev{currency="EUR"}[1h])) / 100`:                     {"rev"},
		`-8 * sum(rate(bytes{instance=~"$instance"}[${__rate_interval}]))`: {"bytes"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}
