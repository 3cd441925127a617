package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/avc"
	"github.com/livedrop/livedrop/internal/redistest"
)

// startOriginProcess starts an origin process on loopback ports of its
// own, with the tests' credentials and extra settings.
func startOriginProcess(t *testing.T, extra map[string]string) *node {
	t.Helper()
	env := map[string]string{
		"LIVEDROP_RTSP_UDP_RTP_ADDR": "", "LIVEDROP_RTSP_UDP_RTCP_ADDR": "", "LIVEDROP_ICE_UDP_PORT": "0",
		"LIVEDROP_PUBLISH_PASSWORD": pubPass, "LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_NODE_SECRET": nodeSecret,
		"LIVEDROP_READ_USER": readUser, "LIVEDROP_READ_PASSWORD": readPass,
	}
	maps.Copy(env, extra)
	loopback := func() string { return fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)) }
	return startNode(t, "origin", env, func() map[string]string {
		return map[string]string{"LIVEDROP_HTTP_ADDR": loopback(), "LIVEDROP_RTSP_ADDR": loopback()}
	})
}

// TestEdgeFailsOverToTheStandbyOrigin: two origin processes ingest the same
// camera (ffmpeg publishes to both); the edge lists them, active first. The
// active origin is killed with SIGKILL mid-stream: the edge notices the
// silence, finds the origin dead, and pulls from the standby; the viewer's
// peer connection stays up, its video freezes for at most 2 s, resumes on a
// keyframe and decodes, with continuous sequence numbers.
func TestEdgeFailsOverToTheStandbyOrigin(t *testing.T) {
	active, standby := startOriginProcess(t, nil), startOriginProcess(t, nil)
	for _, o := range []*node{active, standby} {
		pub := startFFmpeg(t, encodeArgs(30), fmt.Sprintf("rtsp://%s:%s@%s/cam", pubUser, pubPass, o.ports["LIVEDROP_RTSP_ADDR"]))
		t.Cleanup(pub.stop)
	}
	// Both origins have the camera before the edge pulls: it starts on the
	// active one.
	for _, o := range []*node{active, standby} {
		waitFor(t, 20*time.Second, o.url+" receiving the camera", func() bool {
			return scrape(t, o.url, `livedrop_rtp_packets_received_total{kind="video",stream="cam"}`) > 90
		})
	}
	e := startEdge(t, active.url, func(c *edge.Config) { c.OriginURLs = []string{active.url, standby.url} })

	var v *viewer
	waitFor(t, 20*time.Second, "the stream at the edge", func() bool {
		var err error
		v, err = dialViewer(t, "http://"+e.HTTPAddr()+"/whep/cam")
		return err == nil
	})
	waitFor(t, 15*time.Second, "video from the active origin", func() bool { return v.frames() > 30 })

	if got := counterValue(t, e.reg, "livedrop_upstream_failovers_total", map[string]string{"stream": "cam"}); got != 0 {
		t.Fatalf("the edge failed over %v times before the active origin was killed", got)
	}
	framesAtKill := v.frames()
	pktsAtKill, _ := v.counts()
	if err := active.signal(t, syscall.SIGKILL); err == nil {
		t.Fatal("a SIGKILLed origin reported success")
	}
	// The switch is where the edge's timestamps jump: it maps the new
	// upstream onto the wall clock, so the jump is the freeze the viewer
	// sees, whatever the viewer's own lag (under -race it lags).
	sw := -1
	defer func() {
		if sw < 0 {
			pkts := v.videoPackets()
			var big int32
			for i := pktsAtKill; i < len(pkts); i++ {
				big = max(big, int32(pkts[i].Timestamp-pkts[i-1].Timestamp))
			}
			t.Logf("%d video packets, %d after the kill, the largest timestamp step after it %d; failovers %v", len(pkts), len(pkts)-pktsAtKill, big,
				counterValue(t, e.reg, "livedrop_upstream_failovers_total", map[string]string{"stream": "cam"}))
		}
	}()
	waitFor(t, 10*time.Second, "the standby's video after the active origin died", func() bool {
		pkts := v.videoPackets()
		for i := pktsAtKill; i < len(pkts); i++ {
			if d := int32(pkts[i].Timestamp - pkts[i-1].Timestamp); d > 15000 { // 5 frame intervals
				sw = i
				return true
			}
		}
		return false
	})
	pkts := v.videoPackets()
	freeze := time.Duration(int32(pkts[sw].Timestamp-pkts[sw-1].Timestamp)) * time.Second / 90000
	t.Logf("the viewer's video froze for %v when the active origin was killed", freeze.Round(time.Millisecond))
	if freeze > 2*time.Second {
		t.Errorf("the viewer's video froze for %v, want at most 2 s", freeze.Round(time.Millisecond))
	}
	if !avc.IsKeyframeStart(pkts[sw].Payload) {
		t.Errorf("the first packet from the standby (NAL type %d) does not start a keyframe", pkts[sw].Payload[0]&0x1f)
	}
	waitFor(t, 15*time.Second, "60 frames from the standby", func() bool { return v.frames() >= framesAtKill+90 })
	select {
	case <-v.c.Done():
		t.Fatalf("the viewer's session ended: %v", v.c.Err())
	default:
	}
	pkts = v.videoPackets()
	checkContinuousWithin(t, pkts, 3*90000)
	aus := accessUnits(t, pkts[sw:])
	if n := decodeFrames(t, aus); n < 50 {
		t.Fatalf("decoded %d frames from the standby origin, want 50 or more", n)
	}
	if got := counterValue(t, e.reg, "livedrop_upstream_failovers_total", map[string]string{"stream": "cam"}); got < 1 {
		t.Fatalf("livedrop_upstream_failovers_total = %v, want a failover counted", got)
	}
}

// scrape reads one sample of a node's /metrics (0 when absent).
func scrape(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// TestStandbyOriginShowsTheSamePins: two origin processes on one Redis; the
// seller pins a card on the active one; the standby lists it (same id)
// within a poll, and still does after the active origin is SIGKILLed, so
// edges that move to it keep showing the card; the seller unpins it there.
func TestStandbyOriginShowsTheSamePins(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{})
	const token = "pins-test-token-0123456"
	start := func() *node {
		return startOriginProcess(t, map[string]string{"LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_CONTROL_TOKEN": token})
	}
	active, standby := start(), start()
	call(t, "POST", active.url+"/v1/drops", token, `{"id":"pins","stream":"cam","skus":[{"sku":"tee","name":"Tee","price_cents":900,"currency":"EUR","stock":30}]}`, 201)
	var card struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(call(t, "POST", active.url+"/v1/streams/cam/overlays", token, `{"type":"product","drop":"pins","sku":"tee"}`, 201)), &card); err != nil {
		t.Fatal(err)
	}
	listed := func(n *node) string { return call(t, "GET", n.url+"/v1/streams/cam/overlays", token, "", 200) }
	waitFor(t, 5*time.Second, "the standby to list the card pinned on the active origin", func() bool {
		return strings.Contains(listed(standby), `"id":"`+card.ID+`"`)
	})
	if err := active.signal(t, syscall.SIGKILL); err == nil {
		t.Fatal("a SIGKILLed origin reported success")
	}
	if l := listed(standby); !strings.Contains(l, `"name":"Tee"`) {
		t.Fatalf("after the active origin died the standby lists %s", l)
	}
	call(t, "DELETE", standby.url+"/v1/streams/cam/overlays/"+card.ID, token, "", 204)
	call(t, "POST", standby.url+"/v1/streams/cam/overlays", token, `{"type":"countdown","label":"Next drop in","seconds":600}`, 201)
	// An origin started now (the dead one replaced) shows the board as the
	// standby left it: the countdown, not the unpinned card.
	again := start()
	waitFor(t, 5*time.Second, "the replacement origin to show the standby's board", func() bool {
		l := listed(again)
		return strings.Contains(l, "Next drop in") && !strings.Contains(l, `"name":"Tee"`)
	})
}

// TestStandbyOriginTakesTheSamePublishKeys: two origin processes on one
// Redis; a key rotated on one publishes on the other within a sync, the
// old key stops working on both, and a revoke on either holds on both.
func TestStandbyOriginTakesTheSamePublishKeys(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{})
	const token = "keys-e2e-token-0123456"
	start := func() *node {
		return startOriginProcess(t, map[string]string{"LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_CONTROL_TOKEN": token})
	}
	a, b := start(), start()
	// whip answers 401 for a refused key and 400 for a bogus offer that
	// got past the key.
	whip := func(n *node, key string) int {
		req, _ := http.NewRequest("POST", n.url+"/whip/cam", strings.NewReader("v=0\r\n"))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := whip(b, pubPass); got != 400 {
		t.Fatalf("before any key, the publish password on the standby: %d, want 400 (accepted)", got)
	}
	var rotated struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(call(t, "POST", a.url+"/v1/streams/cam/publish-key", token, "", 201)), &rotated); err != nil || rotated.Key == "" {
		t.Fatalf("rotate: %v %+v", err, rotated)
	}
	defer func() {
		if t.Failed() {
			t.Logf("standby logs:\n%s", b.logs.String())
		}
	}()
	// Wait for the standby's sync, not by trying keys: wrong keys would
	// lock this address out (the guard).
	synced := func(n *node, times int) func() bool {
		return func() bool {
			return strings.Count(n.logs.String(), "shared publish keys: taken from the store") >= times
		}
	}
	waitFor(t, 10*time.Second, "the standby to take the key rotated on the active origin", synced(b, 1))
	if got := whip(b, rotated.Key); got != 400 {
		t.Fatalf("the key rotated on the active origin, on the standby: %d, want 400 (accepted)", got)
	}
	if got := whip(b, pubPass); got != 401 {
		t.Fatalf("the standby still takes the password a key replaced: %d", got)
	}
	call(t, "DELETE", b.url+"/v1/streams/cam/publish-key", token, "", 200)
	waitFor(t, 10*time.Second, "the active origin to take the revoke made on the standby", synced(a, 1))
	if got := whip(a, rotated.Key); got != 401 {
		t.Fatalf("the key revoked on the standby, on the active origin: %d, want 401", got)
	}
	// A third origin, started now, has the revoke from its first sync.
	c := start()
	waitFor(t, 10*time.Second, "a new origin to take the shared keys", synced(c, 1))
	if got := whip(c, rotated.Key); got != 401 {
		t.Fatalf("the revoked key on a new origin: %d, want 401", got)
	}
	if strings.Contains(a.logs.String(), rotated.Key) || strings.Contains(b.logs.String(), rotated.Key) {
		t.Fatal("a publish key was logged")
	}
}
