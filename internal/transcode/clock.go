package transcode

import (
	"sync"
	"time"
)

// clock maps the child's output back onto the source: each access unit
// written is an anchor (its place in the child's input, its source
// timestamp and arrival); an output packet's place in the child's output
// finds the anchor it was encoded from. A gap in the source (lost
// packets) is a jump between anchors, so it never shifts later audio.
//
// What comes out is placed by its content, measured (a tone that starts on
// a whole second of the source starts there by the Opus packets' media
// times, TestOpusCarriesTheSoundsSourceTime): the child's output runs one
// access unit ahead of the timestamps it was fed with (an RTP AAC
// timestamp is its content's, as ffmpeg and cameras stamp it; the child
// leaves out the decoder's priming), and Opus's look-ahead (2.5 ms with
// -application lowdelay) delays the content in its packets. Without
// this the sound would lead the picture by about 19 ms.
type clock struct {
	rate int // the source's sample rate

	mu      sync.Mutex
	anchors [512]anchor
	n       int   // anchors written since the restart
	pos     int64 // the child's input position, in source samples
	lastTS  uint32
	ext     int64 // lastTS unwrapped
	haveOut bool
	out0    uint32 // the first output timestamp of this child
}

type anchor struct {
	pos         int64 // input position of the unit, source samples
	src         int64 // its source timestamp, unwrapped
	arrival, at time.Time
}

func (c *clock) init(rate int) { c.rate = rate }

// restart forgets the previous child: the next one starts from zero.
func (c *clock) restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, c.pos, c.haveOut = 0, 0, false
}

// wrote records a unit written to the child.
func (c *clock) wrote(ts uint32, arrival, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.ext = int64(ts)
	} else {
		c.ext += int64(int32(ts - c.lastTS))
	}
	c.lastTS = ts
	c.anchors[c.n%len(c.anchors)] = anchor{pos: c.pos, src: c.ext, arrival: arrival, at: at}
	c.n++
	c.pos += samplesPerAU
}

// opusLookahead is libopus's look-ahead with -application lowdelay, at
// 48 kHz (2.5 ms).
const opusLookahead = 120

// source maps an output timestamp (48 kHz) to the source's timeline, in
// 48 kHz units, and to the arrival and media time of the audio it carries.
func (c *clock) source(outTS uint32) (ts uint32, arrival, at time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return 0, time.Time{}, time.Time{}, false
	}
	if !c.haveOut {
		c.out0, c.haveOut = outTS, true
	}
	// source samples into the child's input, of the content
	rate := int64(c.rate)
	out := int64(int32(outTS-c.out0)) - opusLookahead + samplesPerAU*OpusClockRate/rate // 48 kHz
	pos := out * rate / OpusClockRate
	oldest := max(0, c.n-len(c.anchors))
	a := c.anchors[oldest%len(c.anchors)]
	for i := c.n - 1; i >= oldest; i-- {
		if b := c.anchors[i%len(c.anchors)]; b.pos <= pos {
			a = b
			break
		}
	}
	// In 48 kHz units from the output position, so that packets step by
	// exactly their length (converted from source samples, they would
	// step by 959 or 961 at 44.1 kHz).
	ts = uint32((a.src-a.pos)*OpusClockRate/rate + out)
	since := time.Duration(out)*time.Second/OpusClockRate - time.Duration(a.pos)*time.Second/time.Duration(rate)
	return ts, a.arrival.Add(since), a.at.Add(since), true
}
