package whip

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// publisher is one WHIP session: a peer connection receiving a video and
// maybe an audio track. Its watch goroutine (counted in the server's wait
// group) owns it: it ends the session when ICE does not come up in time
// or the connection fails.
type publisher struct {
	s    *Server
	id   string
	name string
	pc   *webrtc.PeerConnection
	in   Ingest

	connected chan struct{} // closed when ICE and DTLS are up
	lost      chan struct{} // closed when the connection failed
	done      chan struct{} // closed by end

	once     sync.Once
	lostOnce sync.Once
	connOnce sync.Once

	mu      sync.Mutex
	ended   bool
	videoRx webrtc.SSRC
	rxSSRC  [2]webrtc.SSRC // by stream.Kind, for REMB
	readers sync.WaitGroup
	rx      [2]rxCount // what each track delivered, for REMB
}

func (p *publisher) start() {
	p.lost = make(chan struct{})
	p.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() { close(p.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.lostOnce.Do(func() { close(p.lost) })
		}
	})
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
		kind := stream.Audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			kind = stream.Video
		}
		p.mu.Lock()
		if p.ended {
			p.mu.Unlock()
			return
		}
		if kind == stream.Video {
			p.videoRx = tr.SSRC()
		}
		p.rxSSRC[kind] = tr.SSRC()
		p.readers.Add(2)
		p.mu.Unlock()
		defer p.readers.Done()
		go func() {
			defer p.readers.Done()
			p.readReports(rx, uint32(tr.SSRC()), kind)
		}()
		if kind == stream.Video {
			p.RequestKeyframe() // start viewers without waiting for the encoder's next GOP
		}
		pkts := p.s.m.packets.WithLabelValues(kind.String())
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			pkts.Inc()
			p.rx[kind].add(pkt)
			p.in.WriteRTP(kind, pkt)
		}
	})
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		p.sendREMB()
	}()
	go p.watch()
}

// readReports reads what the publisher sends on a track's RTCP until the
// connection closes (pion's interceptors see it only when it is read) and
// hands the track's sender reports to the ingest.
func (p *publisher) readReports(rx *webrtc.RTPReceiver, ssrc uint32, kind stream.Kind) {
	buf := make([]byte, 1500)
	for {
		n, _, err := rx.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pk := range pkts {
			// A compound packet with both tracks' reports reaches both
			// receivers: each takes its own.
			if sr, ok := pk.(*rtcp.SenderReport); ok && sr.SSRC == ssrc {
				p.in.SenderReport(kind, peer.NTPTime(sr.NTPTime), sr.RTPTime)
			}
		}
	}
}

func (p *publisher) watch() {
	defer p.s.wg.Done()
	timer := time.NewTimer(p.s.p.ConnectTimeout)
	defer timer.Stop()
	select {
	case <-p.connected:
		p.s.log.Info("publisher connected", "stream", p.name, "session", p.id)
	case <-timer.C:
		p.s.m.timeouts.Inc()
		p.end(fmt.Sprintf("ICE did not connect within %s", p.s.p.ConnectTimeout))
		return
	case <-p.lost:
		p.end("connection failed before it was up")
		return
	case <-p.done:
		return
	}
	select {
	case <-p.lost:
		p.end("connection lost")
	case <-p.done:
	}
}

// RequestKeyframe sends the publisher a PLI for its video (the stream
// coalesces requests to one a second).
func (p *publisher) RequestKeyframe() {
	p.mu.Lock()
	ssrc := p.videoRx
	p.mu.Unlock()
	if ssrc == 0 {
		return
	}
	if err := p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}}); err == nil {
		p.s.m.keyframeRequests.Inc()
	}
}

// Close ends the session: another source took the stream over.
func (p *publisher) Close() { p.end("another source took the stream over") }

// end ends the session once: the stream loses its source (viewers stay),
// the peer connection closes, the track readers return.
func (p *publisher) end(reason string) {
	p.once.Do(func() {
		p.mu.Lock()
		p.ended = true
		p.mu.Unlock()
		p.s.mu.Lock()
		delete(p.s.pubs, p.id)
		p.s.mu.Unlock()
		close(p.done)
		p.in.End()
		_ = p.pc.Close()
		p.readers.Wait()
		p.s.m.publishers.Dec()
		p.s.log.Info("publisher left", "stream", p.name, "session", p.id, "reason", reason)
	})
}

// offeredTracks reads what a publisher offers to send: H.264 video
// (required) and Opus, PCMU or PCMA audio (optional, in the offer's order
// of preference, as the answer will pick).
func offeredTracks(offer string) (stream.Tracks, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return stream.Tracks{}, fmt.Errorf("malformed SDP offer: %v", err)
	}
	var t stream.Tracks
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Port.Value == 0 {
			continue // rejected section
		}
		dir := direction(md)
		if dir == "recvonly" || dir == "inactive" {
			continue
		}
		switch md.MediaName.Media {
		case "video":
			if t.Video == nil && hasCodec(md, "H264") {
				t.Video = &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}
			}
		case "audio":
			if t.Audio == nil {
				t.Audio = audioCodec(md)
			}
		}
	}
	if t.Video == nil {
		return stream.Tracks{}, errors.New("the offer sends no H.264 video: publish H.264 (packetization-mode 1), with Opus or G.711 audio")
	}
	return t, nil
}

func direction(md *sdp.MediaDescription) string {
	for _, d := range []string{"sendonly", "recvonly", "sendrecv", "inactive"} {
		if _, ok := md.Attribute(d); ok {
			return d
		}
	}
	return "sendrecv"
}

func rtpmaps(md *sdp.MediaDescription) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == "rtpmap" {
			if _, enc, ok := strings.Cut(a.Value, " "); ok {
				out = append(out, enc)
			}
		}
	}
	return out
}

func hasCodec(md *sdp.MediaDescription, name string) bool {
	for _, enc := range rtpmaps(md) {
		if strings.EqualFold(strings.SplitN(enc, "/", 2)[0], name) {
			return true
		}
	}
	return false
}

// audioCodec picks the first audio codec of the section this server
// takes, in the publisher's order, as pion's answer does.
func audioCodec(md *sdp.MediaDescription) *stream.Codec {
	for _, enc := range rtpmaps(md) {
		switch strings.ToLower(strings.SplitN(enc, "/", 2)[0]) {
		case "opus":
			return &stream.Codec{MimeType: media.MimeOpus, ClockRate: media.OpusClockRate, Channels: media.OpusChannels}
		case "pcmu":
			return &stream.Codec{MimeType: media.MimePCMU, ClockRate: media.G711ClockRate, Channels: 1}
		case "pcma":
			return &stream.Codec{MimeType: media.MimePCMA, ClockRate: media.G711ClockRate, Channels: 1}
		}
	}
	return nil
}

// metrics are the WHIP server's.
type metrics struct {
	attempts         *prometheus.CounterVec // result
	publishers       prometheus.Gauge
	packets          *prometheus.CounterVec // kind
	timeouts         prometheus.Counter
	keyframeRequests prometheus.Counter
	remb             prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_whip_publish_attempts_total",
			Help: "WHIP publish offers, by result (ok, unauthorized, live, bad_offer, bad_stream, shutdown, error)."}, []string{"result"}),
		publishers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedrop_whip_sessions",
			Help: "WHIP publisher sessions open."}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_whip_packets_received_total",
			Help: "RTP packets received from WHIP publishers, by kind."}, []string{"kind"}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_whip_connect_timeouts_total",
			Help: "WHIP publishers closed because ICE and DTLS were not up in time."}),
		keyframeRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_whip_keyframe_requests_total",
			Help: "PLIs sent to WHIP publishers."}),
		remb: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_whip_remb_sent_total",
			Help: "REMB bitrate estimates sent to WHIP publishers (one a second each)."}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.publishers, m.packets, m.timeouts, m.keyframeRequests, m.remb} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("whip metrics: %w", err)
		}
	}
	for _, r := range []string{"ok", "unauthorized", "live", "bad_offer"} {
		m.attempts.WithLabelValues(r)
	}
	return m, nil
}
