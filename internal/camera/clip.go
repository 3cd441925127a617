package camera

import (
	"bytes"
	"cmp"
	_ "embed" // the demo clip
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
)

// demoClip is the MPEG-TS clip the camera publishes; clip/make-clip.sh makes it.
//
//go:embed clip/demo.ts
var demoClip []byte

// ticksPerSecond is the MPEG-TS clock rate, also the RTP clock rate of H.264.
const ticksPerSecond = 90000

// opusClockRate is the RTP clock rate of Opus, whatever the sample rate.
const opusClockRate = 48000

// unit is one timed piece of the clip: a video access unit or one Opus packet.
type unit struct {
	// at is the unit's time from the start of the clip, in 90 kHz ticks. It is
	// both the decoding and the presentation time: the clip has no B-frames.
	at int64
	// au holds a video access unit's NALUs; nil for audio.
	au [][]byte
	// idr tells a video access unit that starts a GOP.
	idr bool
	// packet holds an Opus packet; nil for video.
	packet []byte
}

// order ranks video before audio among units due at the same time.
func (u *unit) order() int {
	if u.au != nil {
		return 0
	}
	return 1
}

// clip is a demuxed clip, ready to be published in a loop.
type clip struct {
	sps, pps []byte
	// channels is the Opus channel count (1 or 2).
	channels int
	// period is the loop's length in 90 kHz ticks: loop n plays unit u at
	// n*period + u.at. Every unit's at is in [0, period).
	period int64
	// frameTicks is the duration of one video frame in 90 kHz ticks.
	frameTicks int64
	// units are sorted by at; at equal times video comes first.
	units []unit
}

// tsUnit is a unit read from MPEG-TS, before its time is made relative.
type tsUnit struct {
	dts int64
	unit
}

// demux parses an MPEG-TS clip holding one H.264 and one Opus track into a
// clip. It refuses clips the camera cannot loop cleanly: no SPS/PPS, B-frames,
// a first frame that is not an IDR, or a frame rate that is not constant.
func demux(data []byte) (*clip, error) {
	r := &mpegts.Reader{R: bytes.NewReader(data)}
	if err := r.Initialize(); err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}

	var videoTrack, audioTrack *mpegts.Track
	c := &clip{}
	for _, t := range r.Tracks() {
		switch codec := t.Codec.(type) {
		case *mpegts.CodecH264:
			if videoTrack == nil {
				videoTrack = t
			}
		case *mpegts.CodecOpus:
			if audioTrack == nil {
				audioTrack = t
				c.channels = codec.ChannelCount
			}
		}
	}
	if videoTrack == nil {
		return nil, fmt.Errorf("clip: %w: no H.264 track", errBadClip)
	}
	if audioTrack == nil {
		return nil, fmt.Errorf("clip: %w: no Opus track", errBadClip)
	}
	if c.channels < 1 || c.channels > 2 {
		return nil, fmt.Errorf("clip: %w: %d Opus channels, want 1 or 2", errBadClip, c.channels)
	}

	// One time decoder for both tracks, in read order, keeps them on one
	// timeline across 33-bit wraps.
	var td mpegts.TimeDecoder
	td.Initialize()
	var units []tsUnit
	var decodeErr error

	r.OnDecodeError(func(err error) {
		if decodeErr == nil {
			decodeErr = err
		}
	})

	r.OnDataH264(videoTrack, func(pts, dts int64, au [][]byte) error {
		pts, dts = td.Decode(pts), td.Decode(dts)
		if pts != dts {
			return fmt.Errorf("%w: B-frames (pts %d != dts %d); WebRTC playback needs none",
				errBadClip, pts, dts)
		}
		u, err := c.videoUnit(au)
		if err != nil {
			return err
		}
		units = append(units, tsUnit{dts: dts, unit: u})
		return nil
	})

	r.OnDataOpus(audioTrack, func(pts int64, packets [][]byte) error {
		pts = td.Decode(pts)
		for _, p := range packets {
			samples := opus.PacketDuration2(p)
			if samples <= 0 {
				return fmt.Errorf("%w: Opus packet without duration", errBadClip)
			}
			units = append(units, tsUnit{dts: pts, unit: unit{packet: bytes.Clone(p)}})
			pts += samples * ticksPerSecond / opusClockRate
		}
		return nil
	})

	for {
		err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read clip: %w", err)
		}
	}
	if decodeErr != nil {
		return nil, fmt.Errorf("read clip: %w", decodeErr)
	}
	if err := c.setTimeline(units); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	return c, nil
}

// videoUnit copies an access unit, learns the first SPS and PPS, and makes
// sure an IDR access unit starts with SPS and PPS.
func (c *clip) videoUnit(au [][]byte) (unit, error) {
	u := unit{au: make([][]byte, 0, len(au)+2)}
	var hasSPS, hasPPS bool
	for _, nalu := range au {
		if len(nalu) == 0 {
			continue
		}
		switch h264.NALUType(nalu[0] & 0x1f) {
		case h264.NALUTypeSPS:
			hasSPS = true
			if c.sps == nil {
				c.sps = bytes.Clone(nalu)
			} else if !bytes.Equal(c.sps, nalu) {
				return unit{}, fmt.Errorf("%w: SPS changes within the clip", errBadClip)
			}
		case h264.NALUTypePPS:
			hasPPS = true
			if c.pps == nil {
				c.pps = bytes.Clone(nalu)
			} else if !bytes.Equal(c.pps, nalu) {
				return unit{}, fmt.Errorf("%w: PPS changes within the clip", errBadClip)
			}
		case h264.NALUTypeIDR:
			u.idr = true
		}
		u.au = append(u.au, bytes.Clone(nalu))
	}
	if !u.idr {
		return u, nil
	}
	if c.sps == nil || c.pps == nil {
		return unit{}, fmt.Errorf("%w: IDR before any SPS and PPS", errBadClip)
	}
	// Browsers decode nothing unless SPS and PPS come in-band before each IDR.
	var params [][]byte
	if !hasSPS {
		params = append(params, c.sps)
	}
	if !hasPPS {
		params = append(params, c.pps)
	}
	u.au = append(params, u.au...)
	return u, nil
}

// setTimeline makes unit times relative to the clip's first unit, sets the
// loop period to the video's length (frame count times frame duration) and
// drops any unit at or after it, such as a trailing Opus packet, so that
// timestamps keep increasing from one loop to the next.
func (c *clip) setTimeline(units []tsUnit) error {
	var videoFirst, videoLast, frames int64
	start := int64(0)
	for i, u := range units {
		if i == 0 || u.dts < start {
			start = u.dts
		}
		if u.au == nil {
			continue
		}
		if frames == 0 {
			if !u.idr {
				return fmt.Errorf("%w: first video frame is not an IDR", errBadClip)
			}
			videoFirst = u.dts
		} else if u.dts <= videoLast {
			return fmt.Errorf("%w: video timestamps do not increase", errBadClip)
		}
		videoLast = u.dts
		frames++
	}
	if frames < 2 {
		return fmt.Errorf("%w: fewer than 2 video frames", errBadClip)
	}
	span := videoLast - videoFirst
	if span%(frames-1) != 0 {
		return fmt.Errorf("%w: frame rate is not constant", errBadClip)
	}
	c.frameTicks = span / (frames - 1)
	c.period = frames * c.frameTicks
	if videoFirst-start >= c.frameTicks {
		return fmt.Errorf("%w: audio starts a frame or more before video", errBadClip)
	}

	c.units = c.units[:0]
	for _, u := range units {
		u.at = u.dts - start
		if u.at < c.period {
			c.units = append(c.units, u.unit)
		}
	}
	slices.SortStableFunc(c.units, func(a, b unit) int {
		if n := cmp.Compare(a.at, b.at); n != 0 {
			return n
		}
		return cmp.Compare(a.order(), b.order()) // video first at equal times
	})
	return nil
}

// cut returns a copy of the clip that loops after d, rounded up to whole
// frames; the frame after the cut must be an IDR. Tests use it to reach a
// loop boundary quickly.
func (c *clip) cut(d time.Duration) (*clip, error) {
	period := ticksFromDuration(d)
	if rem := period % c.frameTicks; rem != 0 {
		period += c.frameTicks - rem
	}
	if period <= 0 || period > c.period {
		return nil, fmt.Errorf("cut clip at %v: %w: outside the clip", d, errBadClip)
	}
	out := *c
	out.period = period
	out.units = nil
	for _, u := range c.units {
		if u.at < period {
			out.units = append(out.units, u)
			continue
		}
		if u.au != nil && !u.idr {
			return nil, fmt.Errorf("cut clip at %v: %w: next frame is no IDR", d, errBadClip)
		}
		if u.au != nil {
			break
		}
	}
	return &out, nil
}

// ticksFromDuration converts a duration to 90 kHz ticks, rounding down.
func ticksFromDuration(d time.Duration) int64 {
	return int64(d/time.Second)*ticksPerSecond + int64(d%time.Second)*ticksPerSecond/int64(time.Second)
}

// durationFromTicks converts 90 kHz ticks to a duration without overflowing
// for any realistic run time.
func durationFromTicks(t int64) time.Duration {
	return time.Duration(t/ticksPerSecond)*time.Second +
		time.Duration(t%ticksPerSecond)*time.Second/ticksPerSecond
}
