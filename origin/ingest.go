package origin

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/avc"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/transcode"
)

// ErrNoVideo refuses a source without H.264 video.
var ErrNoVideo = errors.New("source has no H.264 video track")

// plan is how one source's tracks are forwarded, decided when it starts.
type plan struct {
	desc   *description.Session
	video  *description.Media
	h264   *format.H264
	audio  *description.Media
	afmt   format.Format
	aac    format.Format // AAC (MPEG4-GENERIC or MP4A-LATM) forwarded as Opus; nil for none
	tracks stream.Tracks
}

// planSource plans a source's tracks; AAC is transcoded when the origin
// can (transcode_audio and ffmpeg found).
func (o *Origin) planSource(desc *description.Session, name string, log *slog.Logger) (*plan, error) {
	return planTracks(desc, name, log, o.metrics, o.ffmpeg != "")
}

// planTracks picks the H.264 video and an audio track of a source that
// players can hear: Opus or G.711 as they come, AAC (MPEG4-GENERIC) as
// Opus when transcodeAAC. Other audio is dropped with one warning and a
// metric; the video still plays.
func planTracks(desc *description.Session, name string, log *slog.Logger, m *mediametrics.Metrics, transcodeAAC bool) (*plan, error) {
	p := &plan{desc: desc}
	for _, medi := range desc.Medias {
		for _, f := range medi.Formats {
			switch f := f.(type) {
			case *format.MPEG4Audio, *format.MPEG4AudioLATM:
				if p.audio == nil && transcodeAAC && aacConfig(f) != nil {
					p.audio, p.afmt, p.aac = medi, f, f
					p.tracks.Audio = &stream.Codec{MimeType: media.MimeOpus, ClockRate: media.OpusClockRate, Channels: media.OpusChannels}
				} else if p.audio == nil {
					dropAudio(name, f.Codec(), log, m)
				}
			case *format.H264:
				if p.h264 == nil {
					p.video, p.h264 = medi, f
				}
			case *format.Opus:
				if p.audio == nil {
					p.audio, p.afmt = medi, f
					p.tracks.Audio = &stream.Codec{MimeType: media.MimeOpus, ClockRate: media.OpusClockRate, Channels: media.OpusChannels}
				}
			case *format.G711:
				if p.audio == nil && f.SampleRate == 8000 && f.ChannelCount == 1 {
					mime := "audio/PCMA"
					if f.MULaw {
						mime = "audio/PCMU"
					}
					p.audio, p.afmt = medi, f
					p.tracks.Audio = &stream.Codec{MimeType: mime, ClockRate: 8000, Channels: 1}
				} else if p.audio == nil {
					dropAudio(name, fmt.Sprintf("G711/%d/%d", f.SampleRate, f.ChannelCount), log, m)
				}
			default:
				if medi.Type == description.MediaTypeAudio {
					dropAudio(name, f.Codec(), log, m)
				} else if medi.Type == description.MediaTypeVideo && p.h264 == nil {
					log.Warn("video track ignored: only H.264 is forwarded", "stream", name, "codec", f.Codec())
				}
			}
		}
	}
	if p.h264 == nil {
		return nil, ErrNoVideo
	}
	p.tracks.Video = &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}
	return p, nil
}

func dropAudio(name, codec string, log *slog.Logger, m *mediametrics.Metrics) {
	log.Warn("audio track dropped: WebRTC players cannot decode it and transcoding is not supported yet; video still plays",
		"stream", name, "codec", codec)
	m.AudioDropped.WithLabelValues(strings.ToLower(codec)).Inc()
}

// path is one named stream at the origin: the fan-out, the state that
// keeps its packets continuous across sources, and the RTSP re-stream.
type path struct {
	name string
	st   *stream.Stream
	log  *slog.Logger
	m    *mediametrics.Metrics

	mu      sync.Mutex
	owner   any // the current source (an RTSP session or a pull)
	rtsp    *gortsplib.ServerStream
	plan    *plan
	norm    avc.Normalizer
	vRebase stream.Rebaser
	aRebase stream.Rebaser
	vSeq    uint16
	// sync places the source's packets on the origin's clock by its sender
	// reports (Packet.At), so that viewers keep the source's audio/video sync
	sync    stream.SyncClock
	srcSeq  uint16 // the source's last video sequence number
	haveSeq bool
	warnedB bool

	pktsV, pktsA, bytesV, bytesA, malformed, bframes prometheus.Counter

	tc  transcoding
	aac *aacIn // the current source's AAC being transcoded; nil for none
}

// transcoding is what a path needs to turn AAC into Opus.
type transcoding struct {
	ffmpeg string
	m      *transcode.Metrics
}

func newPath(name string, log *slog.Logger, m *mediametrics.Metrics, tc transcoding) *path {
	return &path{
		tc:        tc,
		name:      name,
		st:        stream.New(name, time.Second),
		log:       log,
		m:         m,
		vRebase:   stream.Rebaser{ClockRate: media.VideoClockRate},
		pktsV:     m.PacketsIn.WithLabelValues(name, "video"),
		pktsA:     m.PacketsIn.WithLabelValues(name, "audio"),
		bytesV:    m.BytesIn.WithLabelValues(name, "video"),
		bytesA:    m.BytesIn.WithLabelValues(name, "audio"),
		malformed: m.IngestErrors.WithLabelValues(name, "malformed_h264"),
		bframes:   m.IngestErrors.WithLabelValues(name, "bframes"),
	}
}

// attach makes owner the path's source. The RTSP re-stream is created on
// srv (nil for none).
func (p *path) attach(owner any, pl *plan, srv *gortsplib.Server) error {
	var rs *gortsplib.ServerStream
	if srv != nil {
		rs = &gortsplib.ServerStream{Server: srv, Desc: pl.desc}
		if err := rs.Initialize(); err != nil {
			return fmt.Errorf("rtsp re-stream: %w", err)
		}
	}
	var aac *aacIn
	if pl.aac != nil {
		var err error
		if aac, err = p.startAAC(owner, pl.aac); err != nil {
			if rs != nil {
				rs.Close()
			}
			return err
		}
	}
	p.mu.Lock()
	old, oldAAC := p.rtsp, p.aac
	p.owner, p.plan, p.rtsp, p.aac = owner, pl, rs, aac
	// A source that can make keyframes on request (WHIP: a PLI) gets the
	// viewers' requests; RTSP cannot be asked.
	if k, ok := owner.(interface{ RequestKeyframe() }); ok {
		p.st.OnKeyframeRequest(k.RequestKeyframe)
	} else {
		p.st.OnKeyframeRequest(nil)
	}
	p.norm.MaxPayload = avc.DefaultMaxPayload
	p.norm.SetParams(pl.h264.SafeParams())
	p.vRebase.Reset()
	p.norm.Discontinuity()
	p.haveSeq = false
	p.aRebase = stream.Rebaser{ClockRate: 8000}
	if pl.tracks.Audio != nil {
		p.aRebase.ClockRate = pl.tracks.Audio.ClockRate
	}
	p.sync.Reset()
	p.sync.SetRate(stream.Video, media.VideoClockRate)
	if pl.afmt != nil {
		p.sync.SetRate(stream.Audio, uint32(pl.afmt.ClockRate())) // the source's (AAC: its sample rate)
	}
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	oldAAC.end()
	p.st.SetTracks(pl.tracks)
	return nil
}

// writeOpus takes a transcoded packet of owner's source, with the arrival
// and media time of the AAC it was made from.
func (p *path) writeOpus(owner any, pkt *rtp.Packet, arrival, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.owner != owner {
		return
	}
	h := pkt.Header
	h.Extension, h.Extensions, h.CSRC = false, nil, nil
	p.aRebase.Map(&h, arrival)
	p.st.WritePacket(&stream.Packet{Kind: stream.Audio, Header: h, Payload: pkt.Payload, Arrival: arrival, At: at})
}

// report takes owner's sender report of a track (a source whose packets
// do not carry their capture time: WHIP).
func (p *path) report(owner any, kind stream.Kind, ntp time.Time, ts uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.owner == owner {
		p.sync.Report(kind, ntp, ts)
	}
}

// detach ends owner's turn as the source, if it still is. It reports
// whether it was.
func (p *path) detach(owner any) bool {
	p.mu.Lock()
	if p.owner != owner {
		p.mu.Unlock()
		return false
	}
	rs, aac := p.rtsp, p.aac
	p.owner, p.rtsp, p.plan, p.aac = nil, nil, nil, nil
	p.st.OnKeyframeRequest(nil)
	p.mu.Unlock()
	if rs != nil {
		rs.Close()
	}
	aac.end()
	p.st.SetOffline()
	return true
}

// write takes one RTP packet of owner's source, with its capture time by
// the source's sender reports (zero: not known; a WHIP source's reports
// come through report).
func (p *path) write(owner any, medi *description.Media, pkt *rtp.Packet, capture time.Time) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.owner != owner || p.plan == nil {
		return
	}
	if p.rtsp != nil {
		_ = p.rtsp.WritePacketRTP(medi, pkt)
	}
	switch medi {
	case p.plan.video:
		p.pktsV.Inc()
		p.bytesV.Add(float64(len(pkt.Payload)))
		p.writeVideo(pkt, now, p.place(stream.Video, pkt.Timestamp, 0, capture, now))
	case p.plan.audio:
		p.pktsA.Inc()
		p.bytesA.Add(float64(len(pkt.Payload)))
		if p.aac != nil {
			// AAC to the transcoder, never waiting on it: its Opus comes
			// back through writeOpus.
			aus, err := p.aac.decode(pkt)
			if err != nil || len(aus) == 0 {
				return // a fragment, or a unit lost on the way
			}
			at := p.place(stream.Audio, pkt.Timestamp, uint32(len(aus)*1024), capture, now)
			rate := time.Duration(p.plan.afmt.ClockRate())
			for i, a := range aus {
				p.aac.tc.Write(a, pkt.Timestamp+uint32(i*1024), now, at.Add(time.Duration(i*1024)*time.Second/rate))
			}
			return
		}
		dur := uint32(len(pkt.Payload)) // G.711: a byte a sample
		if strings.EqualFold(p.plan.tracks.Audio.MimeType, media.MimeOpus) {
			dur = uint32(media.OpusSamples(pkt.Payload))
		}
		at := p.place(stream.Audio, pkt.Timestamp, dur, capture, now)
		h := pkt.Header
		h.Extension, h.Extensions, h.CSRC = false, nil, nil
		p.aRebase.Map(&h, now)
		p.st.WritePacket(&stream.Packet{
			Kind: stream.Audio, Header: h, Payload: append([]byte(nil), pkt.Payload...), Arrival: now, At: at,
		})
	}
}

// place is the media time of a source's packet lasting dur ticks, by its
// capture time when the source's reports gave it (stream.SyncClock).
func (p *path) place(kind stream.Kind, ts, dur uint32, capture, now time.Time) time.Time {
	if capture.IsZero() {
		return p.sync.Time(kind, ts, dur, now)
	}
	return p.sync.TimeOf(kind, ts, dur, capture, now)
}

func (p *path) writeVideo(pkt *rtp.Packet, now, at time.Time) {
	h := pkt.Header
	p.vRebase.Map(&h, now) // continuous timestamps across sources
	if p.haveSeq && pkt.SequenceNumber != p.srcSeq+1 {
		p.norm.Discontinuity() // lost (UDP) or reordered: never join across a hole
	}
	p.srcSeq, p.haveSeq = pkt.SequenceNumber, true
	payload := append([]byte(nil), pkt.Payload...)
	err := p.norm.Push(payload, pkt.Timestamp, pkt.Marker, func(o avc.Out) {
		p.st.WritePacket(&stream.Packet{
			Kind: stream.Video,
			Header: rtp.Header{
				Version: 2, PayloadType: 102, SequenceNumber: p.vSeq,
				Timestamp: h.Timestamp, SSRC: h.SSRC, Marker: o.Marker,
			},
			Payload:  o.Payload,
			Keyframe: o.Keyframe,
			Arrival:  now,
			At:       at,
		})
		p.vSeq++
	})
	if err != nil {
		p.malformed.Inc()
		return
	}
	if !p.warnedB && p.norm.BFrames() {
		p.warnedB = true
		p.bframes.Inc()
		p.log.Warn("source sends B-frames: WebRTC players decode few frames of such a stream; "+
			"configure the encoder for no B-frames (x264: -bf 0, or profile baseline)", "stream", p.name)
	}
}
