package peer

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/media"
)

// IngestVideoCodecs are the H.264 variants a publisher (OBS, a browser, a
// phone) may send: Constrained Baseline, Baseline, Main and High, all in
// packetization mode 1. The node forwards what it gets; players decode
// any of them.
var IngestVideoCodecs = []webrtc.RTPCodecParameters{
	ingestH264(96, "42e01f"),
	ingestH264(97, "42001f"),
	ingestH264(98, "4d001f"),
	ingestH264(99, "640c1f"),
	ingestH264(100, "64001f"),
}

func ingestH264(pt webrtc.PayloadType, profile string) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: media.VideoClockRate,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: "goog-remb"}}},
		PayloadType: pt,
	}
}

// newIngestAPI is the API publishers' peer connections are made with: the
// node's settings and receive interceptors (NACKs for what is lost on the
// way in, receiver reports), transport-wide congestion control feedback
// (TWCC: a browser's bandwidth estimate runs on it), and the codecs
// publishers send; REMB (goog-remb) is offered for publishers that adapt
// to it, and sent by the WHIP server (whip.remb).
func newIngestAPI(se webrtc.SettingEngine, ir *interceptor.Registry) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range IngestVideoCodecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register ingest codec %s: %w", c.SDPFmtpLine, err)
		}
	}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: media.OpusClockRate, Channels: media.OpusChannels, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: media.G711ClockRate}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: media.G711ClockRate}, PayloadType: 8},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register ingest codec %s: %w", c.MimeType, err)
		}
	}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, fmt.Errorf("ingest twcc: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// NewIngestPC makes a publisher's peer connection (WHIP): it receives
// H.264 and Opus or G.711, on the node's port, with NACKs and receiver
// reports sent back to the publisher.
func (a *API) NewIngestPC() (*webrtc.PeerConnection, error) {
	return a.ingest.NewPeerConnection(webrtc.Configuration{})
}
