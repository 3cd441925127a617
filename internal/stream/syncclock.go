package stream

import (
	"sync"
	"time"
)

// SyncClock places a source's packets on the node's clock so that its
// tracks keep the sync the source gave them. A packet's time (Packet.At)
// follows its track's RTP clock, never its own arrival: what happens to
// one track on the way in (jitter, packets aggregated or held, a
// transcoder's delay) does not move it against the other.
//
// Each track's clock is placed by the earliest its packets can have been
// sent: a packet leaves once its last sample is captured, so the smallest
// (arrival - end of the packet) seen is the track's delay (creeping up by
// 1 ms a second, to follow a source clock slower than the node's). When
// both tracks have RTCP sender reports (the NTP time of an RTP timestamp)
// and the reports agree with the arrivals within syncTrust, the reports
// place them, with one delay for both: the source's own word on which
// sound goes with which picture. Reports that disagree more are not
// believed: ffmpeg 5.1's RTSP reports were measured 0.3 to 3 s apart
// between its own audio and video, whose timestamps were in sync.
//
// Safe for concurrent use.
type SyncClock struct {
	mu     sync.Mutex
	tracks [2]syncTrack // by Kind
}

type syncTrack struct {
	rate    uint32
	started bool
	lastTS  uint32
	ext     int64 // lastTS unwrapped
	// base is the capture time of ext 0: by the newest report, else by the
	// first packet's arrival
	base   time.Time
	haveSR bool
	// delay is the smallest arrival minus capture time of a packet's end
	delay    time.Duration
	haveDel  bool
	delayAt  time.Time // arrival delay was last updated at
	reported bool      // a report came before the first packet
	srNTP    time.Time
	srTS     uint32
}

// syncTrust is how far the tracks' delays by their sender reports may
// differ before the reports are not believed (a camera's audio and video
// pipelines differ by less).
const syncTrust = 200 * time.Millisecond

// syncJump is how far a packet's delay may move from the track's before
// the track starts over (the source's clock or timestamps jumped).
const syncJump = 3 * time.Second

// syncCreep is how fast a delay rises when no packet is faster: 1 ms a
// second.
const syncCreep = 1000

// Reset forgets the source: a new one starts (or the same one anew).
func (c *SyncClock) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.tracks {
		c.tracks[i] = syncTrack{rate: c.tracks[i].rate}
	}
}

// SetRate sets track k's RTP clock rate (Hz); the clock places the
// packets of a track without one at their arrival.
func (c *SyncClock) SetRate(k Kind, rate uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tracks[k].rate != rate {
		c.tracks[k] = syncTrack{rate: rate}
	}
}

// Report takes a sender report of track k: RTP timestamp ts was captured
// at ntp on the source's clock.
func (c *SyncClock) Report(k Kind, ntp time.Time, ts uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &c.tracks[k]
	if t.rate == 0 {
		return
	}
	if !t.started {
		t.reported, t.srNTP, t.srTS = true, ntp, ts
		return
	}
	// The report's capture time of ext 0; the delay moves by as much as
	// the base, so the placement of packets changes only by what the
	// report says anew.
	base := ntp.Add(-t.dur(t.ext + int64(int32(ts-t.lastTS))))
	if t.haveDel {
		t.delay -= base.Sub(t.base)
	}
	t.base, t.haveSR = base, true
}

// Time returns the time of track k's packet with RTP timestamp ts,
// lasting dur ticks (0 for a video frame's packets), that arrived at
// arrival.
func (c *SyncClock) Time(k Kind, ts, dur uint32, arrival time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &c.tracks[k]
	if t.rate == 0 {
		return arrival
	}
	if !t.started {
		t.started, t.lastTS, t.ext, t.base = true, ts, 0, arrival
		if t.reported {
			t.base, t.haveSR = t.srNTP.Add(-t.dur(int64(int32(t.srTS-ts)))), true
		}
	} else {
		t.ext += int64(int32(ts - t.lastTS))
		t.lastTS = ts
	}
	capture := t.base.Add(t.dur(t.ext))
	d := arrival.Sub(capture.Add(t.dur(int64(dur))))
	switch {
	case !t.haveDel || absDuration(d-t.delay) > syncJump:
		t.delay, t.haveDel = d, true
	default:
		if el := arrival.Sub(t.delayAt); el > 0 {
			t.delay += el / syncCreep
		}
		t.delay = min(t.delay, d)
	}
	t.delayAt = arrival
	delay := t.delay
	if o := &c.tracks[1-k]; t.haveSR && o.haveSR && o.haveDel && absDuration(t.delay-o.delay) <= syncTrust {
		delay = min(t.delay, o.delay) // believed: one delay for both
	}
	return capture.Add(delay)
}

// TimeOf is Time for a packet whose capture time the caller knows from the
// source's reports (zero: it does not).
func (c *SyncClock) TimeOf(k Kind, ts, dur uint32, capture, arrival time.Time) time.Time {
	if !capture.IsZero() {
		c.Report(k, capture, ts)
	}
	return c.Time(k, ts, dur, arrival)
}

// dur is n ticks of the track's clock.
func (t *syncTrack) dur(n int64) time.Duration {
	return time.Duration(n * int64(time.Second) / int64(t.rate))
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
