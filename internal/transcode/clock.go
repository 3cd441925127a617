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
	pos     int64 // input position of the unit, source samples
	src     int64 // its source timestamp, unwrapped
	arrival time.Time
}

func (c *clock) init(rate int) { c.rate = rate }

// restart forgets the previous child: the next one starts from zero.
func (c *clock) restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, c.pos, c.haveOut = 0, 0, false
}

// wrote records a unit written to the child.
func (c *clock) wrote(ts uint32, arrival time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.ext = int64(ts)
	} else {
		c.ext += int64(int32(ts - c.lastTS))
	}
	c.lastTS = ts
	c.anchors[c.n%len(c.anchors)] = anchor{pos: c.pos, src: c.ext, arrival: arrival}
	c.n++
	c.pos += samplesPerAU
}

// source maps an output timestamp (48 kHz) to the source's timeline, in
// 48 kHz units, and to the arrival of the audio it carries.
func (c *clock) source(outTS uint32) (uint32, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return 0, time.Time{}, false
	}
	if !c.haveOut {
		c.out0, c.haveOut = outTS, true
	}
	at := int64(int32(outTS-c.out0)) * int64(c.rate) / OpusClockRate // source samples into the child's input
	oldest := max(0, c.n-len(c.anchors))
	a := c.anchors[oldest%len(c.anchors)]
	for i := c.n - 1; i >= oldest; i-- {
		if b := c.anchors[i%len(c.anchors)]; b.pos <= at {
			a = b
			break
		}
	}
	src := a.src + (at - a.pos)
	arrival := a.arrival.Add(time.Duration(at-a.pos) * time.Second / time.Duration(c.rate))
	return uint32(src * OpusClockRate / int64(c.rate)), arrival, true
}
