package stream

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestFanOutAndDrop(t *testing.T) {
	s := New("s", time.Second)
	var mu sync.Mutex
	drops := 0
	fast, err := s.AddReader(8, nil)
	if err != nil {
		t.Fatal(err)
	}
	slow, _ := s.AddReader(2, func(*Packet) { mu.Lock(); drops++; mu.Unlock() })
	for i := 0; i < 5; i++ {
		s.WritePacket(&Packet{Header: rtp.Header{SequenceNumber: uint16(i)}})
	}
	got := fast.Drain(nil)
	if len(got) != 5 || got[4].Header.SequenceNumber != 4 {
		t.Fatalf("fast reader got %d", len(got))
	}
	if got := slow.Drain(nil); len(got) != 2 || drops != 3 {
		t.Fatalf("slow reader got %d, %d drops told, want 2 and 3", len(got), drops)
	}
	s.RemoveReader(slow)
	if s.Readers() != 1 {
		t.Fatal("reader not removed")
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("removed reader not done")
	}
	s.Close()
	select {
	case <-fast.Done():
	default:
		t.Fatal("reader not done after close")
	}
	if _, err := s.AddReader(1, nil); err != ErrClosed {
		t.Fatal(err)
	}
}

// A reader is woken when a video frame is complete or audio arrives, not
// for each packet of a frame.
func TestReadyWakesOnFrameEnd(t *testing.T) {
	s := New("s", time.Second)
	r, _ := s.AddReader(64, nil)
	woken := func() bool {
		select {
		case <-r.Ready():
			return true
		default:
			return false
		}
	}
	s.WritePacket(&Packet{Kind: Video})
	s.WritePacket(&Packet{Kind: Video})
	if woken() {
		t.Fatal("woken in the middle of a frame")
	}
	s.WritePacket(&Packet{Kind: Video, Header: rtp.Header{Marker: true}})
	if !woken() {
		t.Fatal("not woken at the frame's last packet")
	}
	if got := r.Drain(nil); len(got) != 3 {
		t.Fatalf("drained %d packets, want the whole frame of 3", len(got))
	}
	s.WritePacket(&Packet{Kind: Audio})
	if !woken() {
		t.Fatal("not woken for audio")
	}
	r.Drain(nil)
	// A frame too long for a quarter of the queue wakes the reader anyway.
	for range 16 {
		s.WritePacket(&Packet{Kind: Video})
	}
	if !woken() {
		t.Fatal("not woken with a quarter of the queue waiting")
	}
}

func TestKeyframeRequestsCoalesced(t *testing.T) {
	s := New("s", time.Hour)
	n := 0
	s.OnKeyframeRequest(func() { n++ })
	for i := 0; i < 1000; i++ {
		s.RequestKeyframe()
	}
	if n != 1 {
		t.Fatalf("%d requests forwarded, want 1", n)
	}
}

func TestRebaserContinuousAcrossRestart(t *testing.T) {
	r := Rebaser{ClockRate: 90000}
	t0 := time.Unix(100, 0)
	var last rtp.Header
	for i := 0; i < 10; i++ {
		h := rtp.Header{SSRC: 1, SequenceNumber: 65530 + uint16(i), Timestamp: 1000 + uint32(i)*3000}
		r.Map(&h, t0.Add(time.Duration(i)*33*time.Millisecond))
		if i > 0 && h.SequenceNumber != last.SequenceNumber+1 {
			t.Fatalf("gap at %d", i)
		}
		last = h
	}
	// The source comes back two seconds later with new bases and a new SSRC.
	h := rtp.Header{SSRC: 2, SequenceNumber: 7, Timestamp: 42}
	r.Map(&h, t0.Add(2300*time.Millisecond))
	if h.SequenceNumber != last.SequenceNumber+1 {
		t.Fatalf("seq %d after %d", h.SequenceNumber, last.SequenceNumber)
	}
	if d := h.Timestamp - last.Timestamp; d < 90000 || d > 3*90000 {
		t.Fatalf("timestamp advanced by %d ticks over a 2 s gap", d)
	}
	h2 := rtp.Header{SSRC: 2, SequenceNumber: 8, Timestamp: 3042}
	r.Map(&h2, t0.Add(2333*time.Millisecond))
	if h2.SequenceNumber != h.SequenceNumber+1 || h2.Timestamp != h.Timestamp+3000 {
		t.Fatal("mapping not kept within a session")
	}
}

func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(itoa(n), func(b *testing.B) {
			s := New("s", time.Second)
			readers := make([]*Reader, n)
			for i := range readers {
				readers[i], _ = s.AddReader(1024, nil)
			}
			p := &Packet{Payload: make([]byte, 1200)}
			var dst []*Packet
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.WritePacket(p)
				if i%512 == 511 {
					for _, r := range readers {
						dst = r.Drain(dst[:0])
					}
				}
			}
		})
	}
}

func itoa(n int) string {
	switch n {
	case 1:
		return "subscribers=1"
	case 100:
		return "subscribers=100"
	}
	return "subscribers=1000"
}

func TestGOPAndHistory(t *testing.T) {
	s := New("s", time.Second)
	if len(s.GOP(nil)) != 0 {
		t.Fatal("GOP before any keyframe")
	}
	seq := uint16(65530)
	ts := uint32(0)
	write := func(key bool) {
		ts += 3000 // one packet per frame
		s.WritePacket(&Packet{Kind: Video, Keyframe: key, Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}})
		seq++
	}
	write(false) // before the first keyframe: not kept
	write(true)
	// A second start of the same access unit (IDR after SPS/PPS) stays in it.
	s.WritePacket(&Packet{Kind: Video, Keyframe: true, Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}})
	seq++
	write(false)
	s.WritePacket(&Packet{Kind: Audio})
	if g := s.GOP(nil); len(g) != 3 || !g[0].Keyframe {
		t.Fatalf("GOP has %d packets", len(g))
	}
	write(true)
	if g := s.GOP(nil); len(g) != 1 || g[0].Header.SequenceNumber != seq-1 {
		t.Fatal("a new keyframe must start a new GOP")
	}
	if p := s.Recent(65531); p == nil || !p.Keyframe {
		t.Fatal("history lost a packet across the sequence wrap")
	}
	if s.Recent(seq) != nil {
		t.Fatal("history returned a packet never written")
	}
	for i := 0; i < DefaultGOPMax; i++ {
		write(false)
	}
	if s.Recent(65531) != nil {
		t.Fatal("history kept a packet older than its size")
	}
	if len(s.GOP(nil)) != 0 {
		t.Fatal("a GOP longer than gopMax must not be kept")
	}
}

// TestFanOutAllocatesNothing: in the steady state, handing a packet to 100
// readers and draining their queues allocates nothing.
func TestFanOutAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race; make test runs this without it")
	}
	s := New("s", time.Second)
	readers := make([]*Reader, 100)
	for i := range readers {
		readers[i], _ = s.AddReader(64, nil)
	}
	p := &Packet{Kind: Video, Payload: make([]byte, 1200)}
	buf := make([]*Packet, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		p.Header.SequenceNumber++
		s.WritePacket(p)
		for _, r := range readers {
			buf = r.Drain(buf[:0])
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet fanned out to 100 readers, want 0", allocs)
	}
}
