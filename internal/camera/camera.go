// Package camera owns livedrop's built-in camera: it publishes an embedded demo
// clip (H.264 constrained baseline and Opus, with a running clock burned in) to
// an RTSP server over TCP, in a loop and in real time, as a real camera would.
package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
)

const (
	// VideoPayloadType is the RTP payload type of the H.264 track.
	VideoPayloadType = 96
	// AudioPayloadType is the RTP payload type of the Opus track.
	AudioPayloadType = 111
	// PayloadMaxSize bounds the RTP payloads the camera sends, so that packets
	// still fit in one datagram once forwarded with SRTP.
	PayloadMaxSize = 1200

	minBackoff = 250 * time.Millisecond
	maxBackoff = 5 * time.Second
	// dialTimeout bounds the TCP connect.
	dialTimeout = 5 * time.Second
	// writeTimeout bounds one write to the server; it also bounds how long a
	// TEARDOWN to a stalled server can delay Run's return.
	writeTimeout = 2 * time.Second
	// maxLate is how far behind the clip's schedule publishing may fall (say,
	// after the machine was suspended) before the schedule is moved instead
	// of sending the backlog in a burst.
	maxLate = time.Second
)

// Params configures a Camera.
type Params struct {
	// URL is where to publish, rtsp://HOST:PORT/STREAM, without credentials.
	URL string
	// User and Password are the publishing credentials; they are never logged.
	User, Password string
	// Logger receives the camera's logs; nil discards them.
	Logger *slog.Logger
	// OnError, if set, is called from Run with the error of every failed
	// connection attempt and of every lost connection, before the redial.
	// It is not called when Run's context is cancelled. It must not block.
	OnError func(error)
}

// Camera publishes the demo clip to an RTSP server. Create it with New.
type Camera struct {
	target   string // URL with credentials: never log it
	redacted string
	log      *slog.Logger
	onError  func(error)
	clip     *clip
}

// New checks p and demuxes the embedded clip. It connects to nothing: Run does.
func New(p Params) (*Camera, error) {
	u, err := url.Parse(p.URL)
	if err != nil {
		return nil, fmt.Errorf("camera url: %w", err)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return nil, fmt.Errorf("camera url: scheme %q, want rtsp or rtsps", u.Scheme)
	}
	if u.Host == "" || u.Path == "" || u.Path == "/" {
		return nil, fmt.Errorf("camera url %q: want rtsp://HOST:PORT/STREAM", u.Redacted())
	}
	if u.User != nil {
		return nil, errors.New("camera url: put credentials in User and Password, not in the URL")
	}
	redacted := u.String()
	if p.User != "" {
		u.User = url.UserPassword(p.User, p.Password)
	}
	if _, err := base.ParseURL(u.String()); err != nil {
		return nil, fmt.Errorf("camera url %q: %w", redacted, err)
	}

	cl, err := demux(demoClip)
	if err != nil {
		return nil, fmt.Errorf("camera: %w", err)
	}

	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Camera{
		target:   u.String(),
		redacted: redacted,
		log:      log.With("component", "camera"),
		onError:  p.OnError,
		clip:     cl,
	}, nil
}

// Run publishes the clip until ctx is cancelled, then returns nil. When the
// connection cannot be made or is lost, it reports the error to
// Params.OnError, logs it and redials after a backoff that doubles from 250 ms
// up to 5 s (and starts over after a session that was recording). Each session
// starts the clip from its beginning.
//
// When the server refuses the credentials (RTSP 401), retrying cannot help:
// Run returns an error that wraps ErrUnauthorized.
func (c *Camera) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	backoff := minBackoff
	for {
		recorded, err := c.session(ctx, timer)
		if ctx.Err() != nil {
			return nil
		}
		if recorded {
			backoff = minBackoff
		}
		if c.onError != nil {
			c.onError(err)
		}
		if errors.Is(err, ErrUnauthorized) {
			c.log.Error("rtsp server refused the credentials", "url", c.redacted, "error", err)
			return err
		}
		c.log.Warn("rtsp publish failed; redialling", "url", c.redacted, "in", backoff, "error", err)
		if waitUntil(ctx, timer, time.Now().Add(backoff)) != nil {
			return nil
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session connects, announces the clip's tracks and publishes until ctx is
// cancelled (it returns a nil error then) or the connection fails. recorded
// tells whether the server accepted the RECORD.
func (c *Camera) session(ctx context.Context, timer *time.Timer) (recorded bool, err error) {
	video := &format.H264{
		PayloadTyp:        VideoPayloadType,
		PacketizationMode: 1,
		SPS:               c.clip.sps,
		PPS:               c.clip.pps,
	}
	audio := &format.Opus{PayloadTyp: AudioPayloadType, ChannelCount: c.clip.channels}
	desc := &description.Session{
		Title: "livedrop camera",
		Medias: []*description.Media{
			{Type: description.MediaTypeVideo, Formats: []format.Format{video}},
			{Type: description.MediaTypeAudio, Formats: []format.Format{audio}},
		},
	}

	// gortsplib's handshake does not watch ctx: closing the connection when
	// ctx is done makes a cancelled Run return at once even then. Once
	// recording, the publishing loop watches ctx and closes with a TEARDOWN.
	var stopWatch func() bool
	tcp := gortsplib.TransportTCP
	client := &gortsplib.Client{
		Transport:    &tcp,
		WriteTimeout: writeTimeout,
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			stopWatch = context.AfterFunc(ctx, func() { conn.Close() })
			return conn, nil
		},
	}
	err = client.StartRecording(c.target, desc)
	// The client's goroutine that dialled has handed over: StartRecording
	// waited for its replies, and it dials only once with TCP.
	if stopWatch != nil {
		stopWatch()
	}
	if err != nil {
		return false, classify(err)
	}
	defer client.Close()
	c.log.Info("publishing", "url", c.redacted)

	err = c.publish(ctx, timer, client, desc.Medias[0], desc.Medias[1])
	if err != nil {
		return true, fmt.Errorf("publish to %s: %w", c.redacted, err)
	}
	return true, nil
}

// classify wraps a failed handshake's error, marking a refusal of the
// credentials with ErrUnauthorized.
func classify(err error) error {
	var status liberrors.ErrClientBadStatusCode
	if errors.As(err, &status) && status.Code == base.StatusUnauthorized {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return fmt.Errorf("start recording: %w", err)
}

// publish sends the clip in a loop, each access unit at the wall-clock time
// its timestamp gives, until ctx is cancelled (it returns nil) or a write
// fails. RTP timestamps keep increasing across loops.
func (c *Camera) publish(ctx context.Context, timer *time.Timer, client *gortsplib.Client,
	videoMedia, audioMedia *description.Media,
) error {
	// What format.H264.CreateEncoder and format.Opus.CreateEncoder make,
	// with a smaller payload size than their 1450 bytes.
	venc := &rtph264.Encoder{
		PayloadType:       VideoPayloadType,
		PacketizationMode: 1,
		PayloadMaxSize:    PayloadMaxSize,
	}
	if err := venc.Init(); err != nil {
		return fmt.Errorf("h264 encoder: %w", err)
	}
	aenc := &rtpsimpleaudio.Encoder{PayloadType: AudioPayloadType, PayloadMaxSize: PayloadMaxSize}
	if err := aenc.Init(); err != nil {
		return fmt.Errorf("opus encoder: %w", err)
	}

	// RFC 3550 asks for random initial timestamps.
	videoBase, audioBase := rand.Uint32(), rand.Uint32()
	cl := c.clip
	start := time.Now()
	var dropped int
	var lastDropLog time.Time

	write := func(m *description.Media, pkt *rtp.Packet, ntp time.Time) error {
		err := client.WritePacketRTPWithNTP(m, pkt, ntp)
		var full liberrors.ErrClientWriteQueueFull
		if errors.As(err, &full) {
			// A slow server must not stall the clock: drop and count.
			dropped++
			if time.Since(lastDropLog) > 10*time.Second {
				lastDropLog = time.Now()
				c.log.Warn("rtsp write queue full; dropping packets", "dropped", dropped)
			}
			return nil
		}
		return err
	}

	for loop := int64(0); ; loop++ {
		for i := range cl.units {
			u := &cl.units[i]
			t := loop*cl.period + u.at
			due := start.Add(durationFromTicks(t))
			if late := time.Since(due); late > maxLate {
				start = start.Add(late)
				due = due.Add(late)
				c.log.Warn("fell behind the clip's schedule; skipping ahead", "late", late)
			}
			if waitUntil(ctx, timer, due) != nil {
				return nil
			}

			if u.au != nil {
				pkts, err := venc.Encode(u.au)
				if err != nil {
					return fmt.Errorf("packetize h264: %w", err)
				}
				for _, pkt := range pkts {
					pkt.Timestamp = videoBase + uint32(t)
					if err := write(videoMedia, pkt, due); err != nil {
						return fmt.Errorf("write video: %w", err)
					}
				}
				continue
			}
			pkt, err := aenc.Encode(u.packet)
			if err != nil {
				return fmt.Errorf("packetize opus: %w", err)
			}
			pkt.Timestamp = audioBase + uint32(t*opusClockRate/ticksPerSecond)
			if err := write(audioMedia, pkt, due); err != nil {
				return fmt.Errorf("write audio: %w", err)
			}
		}
	}
}

// waitUntil waits on timer until due or until ctx is done, which it reports
// with ctx's error.
func waitUntil(ctx context.Context, timer *time.Timer, due time.Time) error {
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
