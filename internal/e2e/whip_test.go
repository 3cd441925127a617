package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/origin"
)

// whipPublisher is a WHIP client as OBS is one: it offers H.264 and Opus
// with all its candidates, no trickle, and sends what ffmpeg encodes.
type whipPublisher struct {
	pc       *webrtc.PeerConnection
	location string
	plis     atomic.Int64 // PLIs the server sent for the video
	rrs      atomic.Int64 // receiver reports about the video
	rembs    atomic.Int64 // REMB estimates
	twcc     atomic.Int64 // transport-wide congestion control feedback
	lastREMB atomic.Uint64
	ffmpeg   *exec.Cmd
}

// readRTCP counts what the origin sends back on one of the publisher's
// tracks, until the connection closes.
func (p *whipPublisher) readRTCP(snd *webrtc.RTPSender) {
	for {
		pkts, _, err := snd.ReadRTCP()
		if err != nil {
			return
		}
		for _, pk := range pkts {
			switch pk := pk.(type) {
			case *rtcp.PictureLossIndication:
				p.plis.Add(1)
			case *rtcp.ReceiverReport:
				if len(pk.Reports) > 0 {
					p.rrs.Add(1)
				}
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				p.rembs.Add(1)
				p.lastREMB.Store(uint64(pk.Bitrate))
			case *rtcp.TransportLayerCC:
				p.twcc.Add(1)
			}
		}
	}
}

// postWHIP posts an offer to url with the key as Bearer token and returns
// the status, the body and, on 201, the publisher.
func postWHIP(t *testing.T, url, key string) (int, string, *whipPublisher) {
	t.Helper()
	// pion's defaults, and transport-wide sequence numbers on what it
	// sends, as a browser's (the feedback to them drives its estimate).
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, ir); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "whip")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "whip")
	if err != nil {
		t.Fatal(err)
	}
	p := &whipPublisher{pc: pc}
	vs, err := pc.AddTransceiverFromTrack(video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	as, err := pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	go p.readRTCP(as.Sender())
	go p.readRTCP(vs.Sender())
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	req, _ := http.NewRequest("POST", url, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, string(body), nil
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Location") == "" {
		t.Fatalf("201 without ETag or Location: %v", resp.Header)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	p.location = loc.String()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	p.ffmpeg = encodeToRTP(t, video, audio)
	return resp.StatusCode, string(body), p
}

// encodeToRTP runs ffmpeg encoding a test picture (H.264, no B-frames, as
// OBS sends) and a tone (Opus) to RTP on two local UDP ports, and writes
// what arrives to the tracks.
func encodeToRTP(t *testing.T, video, audio *webrtc.TrackLocalStaticRTP) *exec.Cmd {
	t.Helper()
	bin := requireTool(t, "ffmpeg")
	relay := func(tr *webrtc.TrackLocalStaticRTP) int {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 1600)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				var pkt rtp.Packet
				if pkt.Unmarshal(buf[:n]) == nil {
					_ = tr.WriteRTP(&pkt)
				}
			}
		}()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	vp, ap := relay(video), relay(audio)
	cmd := exec.Command(bin, "-hide_banner", "-loglevel", "warning", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", "30", "-bf", "0", "-b:v", "300k", "-payload_type", "96", "-f", "rtp",
		fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=1200", vp),
		"-map", "1:a", "-c:a", "libopus", "-b:a", "32k", "-payload_type", "111", "-f", "rtp",
		fmt.Sprintf("rtp://127.0.0.1:%d", ap))
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func (p *whipPublisher) delete(t *testing.T) int {
	t.Helper()
	req, _ := http.NewRequest("DELETE", p.location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWHIPPublisherReachesViewersAtTheEdge: a WHIP publisher (as OBS: the
// stream key as Bearer token, no trickle) is seen and heard by a viewer
// at an edge; the origin asks it for keyframes (PLI) and tells it what
// arrives (receiver reports, REMB, TWCC feedback); a wrong key and a
// second publisher on the live stream are refused with the reason; DELETE
// ends it, the viewer's session stays, and a new publisher resumes it.
func TestWHIPPublisherReachesViewersAtTheEdge(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	url := "http://" + o.HTTPAddr() + "/whip/live"

	for _, tc := range []struct{ key, want string }{{"", "Bearer token"}, {"wrong-key", "wrong stream key"}} {
		if code, body, _ := postWHIP(t, url, tc.key); code != 401 || !strings.Contains(body, tc.want) {
			t.Fatalf("key %q: %d %q, want 401 saying %q", tc.key, code, body, tc.want)
		}
	}
	code, body, pub := postWHIP(t, url, pubPass)
	if code != 201 {
		t.Fatalf("publish: %d %s", code, body)
	}
	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/live")
	if tr := v.c.Tracks(); tr.Audio == nil || !strings.EqualFold(tr.Audio.MimeType, "audio/opus") {
		t.Fatalf("viewer's answer has no Opus audio: %+v", tr)
	}
	waitFor(t, 20*time.Second, "the viewer to decode 30 frames and get 50 audio packets", func() bool {
		_, na := v.counts()
		return v.frames() >= 30 && na >= 50
	})
	waitFor(t, 10*time.Second, "a PLI to reach the publisher", func() bool { return pub.plis.Load() > 0 })
	// What lets OBS or a browser adapt its bitrate: receiver reports,
	// REMB and transport-wide feedback from the origin.
	for deadline := time.Now().Add(10 * time.Second); pub.rrs.Load() == 0 || pub.rembs.Load() < 2 || pub.twcc.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher got %d receiver reports, %d REMB, %d TWCC feedback in 10 s, want some of each",
				pub.rrs.Load(), pub.rembs.Load(), pub.twcc.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b := pub.lastREMB.Load(); b < 150_000 || b > 20_000_000 {
		t.Fatalf("REMB says %d bit/s for a 300 kbit/s publisher", b)
	}

	// OBS sends no trickle: a PATCH is answered 405 cleanly, the session
	// goes on.
	req, _ := http.NewRequest("PATCH", pub.location, strings.NewReader("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Fatalf("trickle PATCH: %d (Allow %q), want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if code, body, _ := postWHIP(t, url, pubPass); code != 409 || !strings.Contains(body, "already has a live publisher") {
		t.Fatalf("second publisher: %d %q, want 409", code, body)
	}
	if code := pub.delete(t); code != 200 {
		t.Fatalf("DELETE: %d, want 200", code)
	}
	waitFor(t, 5*time.Second, "the origin to drop the publisher", func() bool { return o.WHIPPublishers() == 0 })

	// A publisher that comes back resumes the same viewer session.
	before := v.frames()
	if code, body, _ := postWHIP(t, url, pubPass); code != 201 {
		t.Fatalf("publish again: %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "the viewer to decode frames of the new publisher", func() bool { return v.frames() >= before+30 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = v.c.Close(ctx)
}

// TestWHIPKeyGuessingIsLockedOut: wrong stream keys cost the address's
// failure budget like RTSP passwords: after the budget even the right key
// is refused (429 with Retry-After) until the lockout ends, and the
// failures are logged once, never the keys.
func TestWHIPKeyGuessingIsLockedOut(t *testing.T) {
	o := startOrigin(t, func(c *origin.Config) {
		c.AuthGuard.MaxFailures = 5
	})
	url := "http://" + o.HTTPAddr() + "/whip/guess"
	post := func(key string) (int, http.Header, string) {
		req, _ := http.NewRequest("POST", url, strings.NewReader("v=0\r\n"))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	codes := map[int]int{}
	for i := range 50 {
		code, _, _ := post(fmt.Sprintf("guess-%d", i))
		codes[code]++
	}
	if codes[401] != 5 || codes[429] != 45 {
		t.Fatalf("50 wrong keys answered %v, want 5 × 401 then 429", codes)
	}
	code, h, body := post(pubPass)
	if code != 429 || h.Get("Retry-After") == "" || !strings.Contains(body, "too many wrong keys") {
		t.Fatalf("the right key during the lockout: %d %q (Retry-After %q), want 429", code, body, h.Get("Retry-After"))
	}
	if got := counterValue(t, o.reg, "livedrop_auth_failures_total", map[string]string{"surface": "whip_publish", "reason": "wrong_credentials"}); got != 5 {
		t.Fatalf("whip_publish failures counted %v, want 5", got)
	}
}

// TestWHIPTakeover: with whip_takeover a second publisher on a live
// stream replaces the first (its session ends at the origin) and the
// viewer at the edge keeps watching, now the newcomer's picture.
func TestWHIPTakeover(t *testing.T) {
	o := startOrigin(t, func(c *origin.Config) { c.WHIPTakeover = true })
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	url := "http://" + o.HTTPAddr() + "/whip/live"
	if code, body, _ := postWHIP(t, url, pubPass); code != 201 {
		t.Fatalf("first publisher: %d %s", code, body)
	}
	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/live")
	waitFor(t, 20*time.Second, "frames of the first publisher", func() bool { return v.frames() >= 10 })
	code, body, second := postWHIP(t, url, pubPass)
	if code != 201 {
		t.Fatalf("second publisher with takeover: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "the origin to keep one publisher", func() bool { return o.WHIPPublishers() == 1 })
	before := v.frames()
	waitFor(t, 20*time.Second, "frames of the second publisher", func() bool { return v.frames() >= before+30 })
	if code := second.delete(t); code != 200 {
		t.Fatalf("the newcomer's session was not the one kept: DELETE %d", code)
	}
}
