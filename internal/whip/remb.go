package whip

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// REMB (draft-alvestrand-rmcat-remb) tells a publisher the bitrate the
// origin can take; OBS and other encoders that read it adapt theirs (a
// browser adapts to the TWCC feedback pion sends as well). The estimate
// follows what arrived each second and what of it was lost.
const (
	rembEvery = time.Second
	rembMin   = 150_000    // bits per second: never ask for less
	rembMax   = 20_000_000 // nor promise more
)

// rembEstimate returns the next estimate from the last (prev, 0 at
// first), the bitrate that arrived and the fraction lost: half again what
// arrived when nothing was lost, what arrived less half the loss when
// more than a tenth was lost, what arrived in between.
func rembEstimate(prev, received, loss float64) float64 {
	var est float64
	switch {
	case loss > 0.10:
		est = received * (1 - loss/2)
	case loss < 0.02:
		est = max(received*1.5, prev*1.08)
	default:
		est = received
	}
	return min(max(est, rembMin), rembMax)
}

// rxCount is what one track delivered since the last estimate.
type rxCount struct {
	mu       sync.Mutex
	bytes    int
	packets  int
	started  bool
	maxSeq   uint16
	expected int // sequence numbers the interval spans
}

func (c *rxCount) add(pkt *rtp.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes += pkt.MarshalSize()
	c.packets++
	if !c.started {
		c.started, c.maxSeq, c.expected = true, pkt.SequenceNumber, 1
		return
	}
	if d := int16(pkt.SequenceNumber - c.maxSeq); d > 0 {
		c.expected += int(d)
		c.maxSeq = pkt.SequenceNumber
	}
}

// take returns the interval's bytes, packets and expected packets, and
// starts the next interval after the newest sequence number.
func (c *rxCount) take() (bytes, packets, expected int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bytes, packets, expected = c.bytes, c.packets, c.expected
	c.bytes, c.packets, c.expected = 0, 0, 0
	return bytes, packets, expected
}

// sendREMB tells the publisher the estimate every rembEvery until the
// session ends.
func (p *publisher) sendREMB() {
	tick := time.NewTicker(rembEvery)
	defer tick.Stop()
	var est float64
	last := time.Now()
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			var bytes, packets, expected int
			for i := range p.rx {
				b, n, e := p.rx[i].take()
				bytes, packets, expected = bytes+b, packets+n, expected+e
			}
			p.mu.Lock()
			ssrcs := make([]uint32, 0, 2)
			for _, s := range p.rxSSRC {
				if s != 0 {
					ssrcs = append(ssrcs, uint32(s))
				}
			}
			p.mu.Unlock()
			el := now.Sub(last).Seconds()
			last = now
			if len(ssrcs) == 0 || packets == 0 || el <= 0 {
				continue
			}
			loss := 0.0
			if expected > packets {
				loss = float64(expected-packets) / float64(expected)
			}
			est = rembEstimate(est, float64(bytes*8)/el, loss)
			if err := p.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(est), SSRCs: ssrcs}}); err == nil {
				p.s.m.remb.Inc()
			}
		}
	}
}
