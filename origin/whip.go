package origin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whip"
)

// whipSink makes WHIP publishers the origin's sources: a WHIP stream is
// described as an RTSP one would be, so that downstream (GOP start,
// overlays, the RTSP re-stream) both are the same thing.
type whipSink struct{ o *Origin }

var _ whip.Sink = whipSink{}

// Payload types of a WHIP source's description (the RTSP re-stream's).
const (
	whipVideoPT = 96
	whipAudioPT = 111
)

func (s whipSink) Publish(name string, tracks stream.Tracks, src whip.Source) (whip.Ingest, error) {
	if s.o.isPulled(name) {
		return nil, fmt.Errorf("%w: the stream is pulled from a configured camera", whip.ErrLive)
	}
	video := &description.Media{Type: description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: whipVideoPT, PacketizationMode: 1}}}
	desc := &description.Session{Medias: []*description.Media{video}}
	var audio *description.Media
	if a := tracks.Audio; a != nil {
		var f format.Format
		switch {
		case strings.EqualFold(a.MimeType, media.MimeOpus):
			f = &format.Opus{PayloadTyp: whipAudioPT, ChannelCount: media.OpusChannels}
		case strings.EqualFold(a.MimeType, media.MimePCMU):
			f = &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: media.G711ClockRate, ChannelCount: 1}
		case strings.EqualFold(a.MimeType, media.MimePCMA):
			f = &format.G711{PayloadTyp: 8, SampleRate: media.G711ClockRate, ChannelCount: 1}
		}
		if f != nil {
			audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}}
			desc.Medias = append(desc.Medias, audio)
		}
	}
	pl, err := s.o.planSource(desc, name, s.o.log)
	if err != nil {
		return nil, err
	}
	p, err := s.o.startSourceAs(name, src, pl, !s.o.cfg.WHIPTakeover)
	if err != nil {
		return nil, err
	}
	in := &whipIngest{o: s.o, p: p, src: src, video: video, audio: audio}
	if audio != nil {
		in.audioPT = audio.Formats[0].PayloadType()
	}
	return in, nil
}

// whipIngest feeds one WHIP publisher's packets to its path.
type whipIngest struct {
	o            *Origin
	p            *path
	src          whip.Source
	video, audio *description.Media
	audioPT      uint8
}

func (w *whipIngest) WriteRTP(kind stream.Kind, pkt *rtp.Packet) {
	if kind == stream.Video {
		pkt.PayloadType = whipVideoPT
		w.p.write(w.src, w.video, pkt, time.Time{})
		return
	}
	if w.audio != nil {
		pkt.PayloadType = w.audioPT
		w.p.write(w.src, w.audio, pkt, time.Time{})
	}
}

// SenderReport takes the publisher's sender report of a track: its
// packets are placed on the origin's clock by it (stream.SyncClock), so a
// browser's or OBS's audio and video stay in sync downstream.
func (w *whipIngest) SenderReport(kind stream.Kind, ntp time.Time, ts uint32) {
	w.p.report(w.src, kind, ntp, ts)
}

func (w *whipIngest) End() { w.o.stopSource(w.p, w.src) }

// surfaceWHIP names WHIP publish keys in the guard's budget and metrics.
const surfaceWHIP = "whip_publish"

// authorizePublish checks a WHIP publisher's key: the Bearer token is the
// stream's publish key, or publish_password for a stream without one (OBS:
// Settings, Stream, Bearer Token).
func (o *Origin) authorizePublish(r *http.Request, name string) (int, error) {
	key, presented := jsonhttp.BearerToken(r)
	if !presented {
		return http.StatusUnauthorized, errors.New("publishing needs the stream key as a Bearer token (OBS: Bearer Token)")
	}
	// The key costs the same failure budget as RTSP's password: a locked
	// out address or account is refused before its key is compared.
	ok, v := o.guard.Try(guard.Attempt{Surface: surfaceWHIP, IP: guard.HostKey(r.RemoteAddr),
		Account: surfaceWHIP + ":" + o.cfg.PublishUser, Presented: true, Reason: "wrong_credentials"}, func() bool {
		ok := o.keys.check(name, o.cfg.PublishPassword, key)
		if !ok {
			o.metrics.AuthFailures.Inc()
		}
		return ok
	})
	switch {
	case ok:
		return 0, nil
	case v.Locked:
		return http.StatusTooManyRequests, lockedOut{v.RetryAfter}
	}
	return http.StatusUnauthorized, errors.New("wrong stream key")
}

// lockedOut is a WHIP refusal during a lockout; the server says when to
// come back (whip.RetryAfterer).
type lockedOut struct{ d time.Duration }

func (e lockedOut) Error() string {
	return fmt.Sprintf("too many wrong keys from this address: try again in %s", e.d.Round(time.Second))
}

func (e lockedOut) RetryAfter() time.Duration { return e.d }
