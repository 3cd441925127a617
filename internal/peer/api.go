// Package peer is the node's pion side: the WebRTC API its peer connections
// are made with, the local tracks a viewer session sends on, and the
// reading of what peers send back over RTCP.
//
// It holds what WHEP egress, the origin-to-edge link and WHIP ingest share:
// codecs, ICE configuration and the node's one UDP port (an ICE mux over
// udpbatch sockets), pion's logs adapted to slog, and the choice of a
// session's send path, pion's or the direct one (srtpdirect). It speaks no
// HTTP: signalling is the whep package's.
package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/srtpdirect"
	"github.com/livedrop/livedrop/internal/udpbatch"
)

// H264Codec is the video codec every node and client speaks.
var H264Codec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: "goog-remb"}}},
	PayloadType: 102,
}

// rtxCodec carries H.264 retransmissions on their own SSRC (RFC 4588) for
// players that offer it: a repaired packet then does not count as a
// duplicate in the player's statistics or bandwidth estimate.
var rtxCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: media.VideoClockRate, SDPFmtpLine: "apt=102"},
	PayloadType:        103,
}

// audioCodecs are the audio codecs nodes send and receive.
var audioCodecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: media.OpusClockRate, Channels: media.OpusChannels, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
}

// AudioCodec returns the parameters nodes register for the audio codec
// mime: a session sending G.711 answers with that codec alone, or the
// answer would list Opus first and the player (an edge) take it for Opus.
func AudioCodec(mime string) (webrtc.RTPCodecParameters, bool) {
	for _, c := range audioCodecs {
		if strings.EqualFold(c.MimeType, mime) {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// APIOption adjusts NewAPI.
type APIOption func(*apiOptions)

type apiOptions struct {
	receive []interceptor.Factory
	tcpOnly bool
	// lightReceiver (tests) drops the receive-side interceptors (NACK
	// generator, receiver reports): they allocate per packet received and
	// would hide what forwarding allocates.
	lightReceiver bool
	sendStats     *SendStats
	logger        *slog.Logger
	socketBuffer  int
	gro           bool
}

// WithLightReceiver drops the receive-side interceptors (NACK generator,
// receiver reports) of the API's peer connections. They allocate per
// packet received: benchmarks of forwarding use it for their in-process
// receivers, so as not to measure them.
func WithLightReceiver() APIOption {
	return func(o *apiOptions) { o.lightReceiver = true }
}

// WithGRO has each session's own UDP socket (no UDP mux) take coalesced
// datagrams (UDP GRO) and split them itself: the load generator uses it so
// that, on loopback, the kernel does not cut the node's GSO datagrams back
// into packets in the node's time (udpbatch.WithGRO).
func WithGRO() APIOption {
	return func(o *apiOptions) { o.gro = true }
}

// WithSocketBuffer gives each session's own UDP socket (no UDP mux) size
// bytes of buffer: a load generator receiving hundreds of streams in one
// process needs room for keyframe bursts while it waits for a core.
func WithSocketBuffer(size int) APIOption {
	return func(o *apiOptions) { o.socketBuffer = size }
}

// WithSendStats counts what the node's UDP media socket sends into s.
func WithSendStats(s *SendStats) APIOption {
	return func(o *apiOptions) { o.sendStats = s }
}

// WithLogger logs pion's messages (LoggerFactory) and the media socket's
// troubles to l; without it they go to slog.Default().
func WithLogger(l *slog.Logger) APIOption {
	return func(o *apiOptions) { o.logger = l }
}

// WithTCPOnly gathers and uses TCP candidates only (a player behind a
// firewall that blocks UDP; tests use it).
func WithTCPOnly() APIOption {
	return func(o *apiOptions) { o.tcpOnly = true }
}

// WithReceiveInterceptor puts f in front of the NACK generator on the
// receive side, so packets it swallows look lost (tests use it). SRTP
// replay protection is turned off with it: such a packet was decrypted
// before it was swallowed, and its retransmission would look like a replay,
// which a packet lost on the wire never does.
func WithReceiveInterceptor(f interceptor.Factory) APIOption {
	return func(o *apiOptions) { o.receive = append(o.receive, f) }
}

// API is the pion API a node's peer connections are made with, and what
// its viewer sessions need to send media on the direct path.
type API struct {
	*webrtc.API
	me     *webrtc.MediaEngine
	se     webrtc.SettingEngine
	ir     *interceptor.Registry
	ingest *webrtc.API         // built on first use by NewIngestPC
	socks  []srtpdirect.Socket // the UDP mux's sockets; none without a mux
}

// NewSessionPC makes a viewer session's peer connection: no interceptors
// (sessions answer NACKs from the stream's history and send their own
// sender reports), and its DTLS handshake captured into kc so its media
// can take the direct path (UseDirect).
func (a *API) NewSessionPC(kc *srtpdirect.KeyCapture) (*webrtc.PeerConnection, error) {
	se := a.se
	se.SetDTLSKeyLogWriter(kc)
	se.SetDTLSServerHelloMessageHook(kc.ServerHello)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(a.me), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se))
	return api.NewPeerConnection(webrtc.Configuration{})
}

// NewAPI builds the pion API every peer connection of a node is made with:
// H.264, Opus, PCMU and PCMA; NACK, RTCP reports; host candidates without
// mDNS; the node's UDP port when one is configured. close releases the port.
func NewAPI(cfg ICEConfig, opts ...APIOption) (api *API, close func() error, err error) {
	o := apiOptions{sendStats: &SendStats{}, logger: slog.Default()}
	api = &API{}
	for _, opt := range opts {
		opt(&o)
	}
	me := &webrtc.MediaEngine{}
	codecs := []struct {
		p    webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{H264Codec, webrtc.RTPCodecTypeVideo},
		{rtxCodec, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range audioCodecs {
		codecs = append(codecs, struct {
			p    webrtc.RTPCodecParameters
			kind webrtc.RTPCodecType
		}{c, webrtc.RTPCodecTypeAudio})
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.p, c.kind); err != nil {
			return nil, nil, fmt.Errorf("register codec %s: %w", c.p.MimeType, err)
		}
	}
	logs := LoggerFactory(o.logger)
	ir := &interceptor.Registry{}
	for _, f := range o.receive {
		ir.Add(f)
	}
	// NACKs for what we receive (an edge pulling from upstream). NACKs from
	// viewers are answered by the sessions from one shared history per
	// stream, not by pion's responder, which keeps a copy of every packet
	// per viewer (FIELD-NOTES: 481 MB at 200 viewers).
	if !o.lightReceiver {
		gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(logs))
		if err != nil {
			return nil, nil, fmt.Errorf("nack generator: %w", err)
		}
		ir.Add(gen)
	}
	if o.lightReceiver {
		sr, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(logs))
		if err != nil {
			return nil, nil, fmt.Errorf("sender reports: %w", err)
		}
		ir.Add(sr)
	} else if err := webrtc.ConfigureRTCPReportsWithOptions(ir, []report.ReceiverOption{report.WithReceiverLoggerFactory(logs)},
		report.WithSenderLoggerFactory(logs)); err != nil {
		return nil, nil, fmt.Errorf("configure rtcp reports: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: logs}
	if len(o.receive) > 0 {
		se.DisableSRTPReplayProtection(true)
	}
	if o.socketBuffer > 0 || o.gro {
		n, err := udpbatch.NewBufferedNet(o.socketBuffer, o.gro)
		if err != nil {
			return nil, nil, fmt.Errorf("network: %w", err)
		}
		se.SetNet(n)
	}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPPort > 0 {
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	if o.tcpOnly {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeTCP4}
	}
	se.SetNetworkTypes(networks)
	// The agent pings the peer when it has sent or received nothing for the
	// keepalive interval; a session on the direct path sends its media
	// past the agent, so that is every interval, and each ping and answer
	// costs a STUN round with two HMACs. Half the disconnected timeout
	// still has a live peer answer in time.
	se.SetICETimeouts(cfg.DisconnectedTimeout, cfg.FailedTimeout, max(time.Second, cfg.DisconnectedTimeout/2))
	if len(cfg.PublicIPs) > 0 {
		// 1:1 NAT: announce the public addresses instead of the host's.
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, nil, fmt.Errorf("ice.public_ips: %w", err)
		}
	}
	// Answer as the DTLS server: Chromium then picks an AEAD-GCM SRTP
	// profile, several times cheaper per packet than AES-CM (FIELD-NOTES).
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, nil, fmt.Errorf("dtls role: %w", err)
	}
	var closers []func() error
	close = func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	if cfg.TCPPort > 0 {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.TCPPort))
		if err != nil {
			return nil, nil, fmt.Errorf("ice.tcp_port: listen on %d: %w", cfg.TCPPort, err)
		}
		tcpMux := ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, ReadBufferSize: 64, WriteBufferSize: 4 << 20, Logger: logs.NewLogger("ice")})
		se.SetICETCPMux(tcpMux)
		closers = append(closers, tcpMux.Close)
	}
	if cfg.UDPPort > 0 {
		mux, socks, err := newUDPMux(cfg.UDPPort, cfg.IncludeLoopback, o.logger, logs, &o.sendStats.SendStats)
		if err != nil {
			_ = close()
			return nil, nil, fmt.Errorf("ice.udp_port: listen on %d: %w", cfg.UDPPort, err)
		}
		se.SetICEUDPMux(mux)
		closers = append(closers, mux.Close)
		api.socks = socks
	}
	api.me, api.se, api.ir = me, se, ir
	// Publishers' connections: the same receive side, and congestion
	// feedback for the publisher's bandwidth estimate (ingest.go).
	ingestIR := &interceptor.Registry{}
	for _, f := range o.receive {
		ingestIR.Add(f)
	}
	gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(logs))
	if err != nil {
		_ = close()
		return nil, nil, fmt.Errorf("nack generator: %w", err)
	}
	ingestIR.Add(gen)
	if err := webrtc.ConfigureRTCPReportsWithOptions(ingestIR, []report.ReceiverOption{report.WithReceiverLoggerFactory(logs)},
		report.WithSenderLoggerFactory(logs)); err != nil {
		_ = close()
		return nil, nil, fmt.Errorf("configure rtcp reports: %w", err)
	}
	if api.ingest, err = newIngestAPI(se, ingestIR); err != nil {
		_ = close()
		return nil, nil, err
	}
	api.API = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return api, close, nil
}
