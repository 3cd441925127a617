package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// TestViewerHistorySurvivesOriginSIGKILL: the origin's viewer history (the
// event report's unique viewers, channels, peak) is in Redis, so a SIGKILL
// of the origin process does not empty the report: after the restart it
// has the viewers from before, and the viewer still watching is open again
// once the edge says so.
func TestViewerHistorySurvivesOriginSIGKILL(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{AppendOnly: true})
	const token = "views-restart-token-0123"
	loopback := func() string { return fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)) }
	origin := startNode(t, "origin", map[string]string{
		"LIVEDROP_RTSP_UDP_RTP_ADDR": "", "LIVEDROP_RTSP_UDP_RTCP_ADDR": "", "LIVEDROP_ICE_UDP_PORT": "0",
		"LIVEDROP_PUBLISH_PASSWORD": pubPass, "LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_CONTROL_TOKEN": token,
		"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_NODE_SECRET": nodeSecret,
		"LIVEDROP_READ_USER": readUser, "LIVEDROP_READ_PASSWORD": readPass,
	}, func() map[string]string {
		return map[string]string{"LIVEDROP_HTTP_ADDR": loopback(), "LIVEDROP_RTSP_ADDR": loopback()}
	})
	edge := startNode(t, "edge", map[string]string{
		"LIVEDROP_ORIGIN_URL": origin.url, "LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_NODE_SECRET": nodeSecret,
		"LIVEDROP_REGION": "eu-test", "LIVEDROP_NODE_ID": "edge-a", "LIVEDROP_DATA_DIR": t.TempDir(),
		"LIVEDROP_SESSION_SECRET": buyertest.Secret,
	}, func() map[string]string {
		return map[string]string{"LIVEDROP_HTTP_ADDR": loopback(), "LIVEDROP_ICE_UDP_PORT": fmt.Sprint(freeUDPPort(t))}
	})
	pub := startFFmpeg(t, encodeArgs(30), fmt.Sprintf("rtsp://%s:%s@%s/cam", pubUser, pubPass, origin.ports["LIVEDROP_RTSP_ADDR"]))
	call(t, "POST", origin.url+"/v1/drops", token, `{"id":"vh","stream":"cam","skus":[{"sku":"tee","name":"Tee","price_cents":900,"currency":"EUR","stock":30}]}`, 201)
	// The report's window: from before the first viewer (the drop has no
	// orders to open it).
	window := "?from=" + time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)

	var va, vb *viewer
	waitFor(t, 30*time.Second, "the stream at the edge", func() bool {
		select {
		case <-pub.done:
			t.Fatalf("ffmpeg exited: %s", pub.stderr.String())
		default:
		}
		var err error
		va, err = dialViewer(t, edge.url+"/whep/cam?ch=qr&viewer=va")
		return err == nil
	})
	waitFor(t, 15*time.Second, "the second viewer (offers are rate limited per address)", func() bool {
		var err error
		vb, err = dialViewer(t, edge.url+"/whep/cam?ch=social&viewer=vb")
		return err == nil
	})
	waitFor(t, 15*time.Second, "video at both viewers", func() bool { return va.frames() > 10 && vb.frames() > 10 })

	type figures struct {
		UniqueViewers     int `json:"unique_viewers"`
		PeakConcurrent    int `json:"peak_concurrent"`
		CurrentConcurrent int `json:"current_concurrent"`
	}
	report := func(n *node) (total figures, byChannel map[string]figures) {
		var r struct {
			Total     figures            `json:"total"`
			ByChannel map[string]figures `json:"by_channel"`
		}
		if err := json.Unmarshal([]byte(call(t, "GET", n.url+"/v1/drops/vh/report"+window, token, "", 200)), &r); err != nil {
			t.Fatal(err)
		}
		return r.Total, r.ByChannel
	}
	waitFor(t, 20*time.Second, "both viewers in the origin's report", func() bool {
		f, _ := report(origin)
		return f.UniqueViewers == 2 && f.CurrentConcurrent == 2
	})
	if f, _ := report(origin); f.PeakConcurrent != 2 {
		t.Fatalf("peak before the kill: %+v", f)
	}
	if err := vb.c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second viewer's leave at the origin", func() bool {
		f, _ := report(origin)
		return f.CurrentConcurrent == 1 && f.UniqueViewers == 2
	})
	// Two joins and a leave saved before the kill (the keeper copies every second).
	waitFor(t, 20*time.Second, "the history saved to Redis", func() bool {
		return metricValue(t, origin.url, `livedrop_event_view_events_saved_total{result="ok"}`) >= 3
	})

	if err := origin.signal(t, syscall.SIGKILL); err == nil {
		t.Fatal("a SIGKILLed origin reported success")
	}
	origin = origin.restart(t)
	total, byChannel := report(origin)
	if total.UniqueViewers != 2 || total.PeakConcurrent != 2 {
		t.Fatalf("report after the origin's SIGKILL: %+v, want the 2 viewers and the peak of 2 from before\n%s", total, call(t, "GET", origin.url+"/v1/drops/vh/report"+window, token, "", 200))
	}
	if byChannel["qr"].UniqueViewers != 1 || byChannel["social"].UniqueViewers != 1 {
		t.Fatalf("channels after the restart: %+v, want one viewer each from qr and social", byChannel)
	}
	// The viewer still watching stays open: the edge says it again to the
	// new origin (restored sessions nobody claims end after the grace).
	waitFor(t, 30*time.Second, "the edge to reconnect and the open viewer to be counted", func() bool {
		f, _ := report(origin)
		return f.CurrentConcurrent == 1 && f.UniqueViewers == 2
	})
	if err := origin.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("origin after SIGTERM: %v\n%s", err, origin.logs.String())
	}
}

// metricValue reads one sample (name with its labels, as exposed) from a
// node's /metrics; 0 if absent.
func metricValue(t *testing.T, base, sample string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
