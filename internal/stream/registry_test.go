package stream

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if _, ok := r.MediaClock("a"); ok {
		t.Fatal("clock of an unknown stream")
	}
	if got := r.MapTS("a", 7); got != 7 {
		t.Fatalf("unknown stream maps 7 to %d", got)
	}
	a := New("a", time.Second)
	r.Add(a)
	if _, ok := r.MediaClock("a"); ok {
		t.Fatal("clock before the first video packet")
	}
	a.WritePacket(&Packet{Kind: Video, Payload: []byte{1}, Header: rtp.Header{Timestamp: 9000}})
	if ts, ok := r.MediaClock("a"); !ok || ts != 9000 {
		t.Fatalf("clock %d %v, want 9000", ts, ok)
	}
	a.SetSourceOffset(100)
	if got := r.MapTS("a", 5); got != 105 {
		t.Fatalf("MapTS %d, want 105", got)
	}
	b := New("a", time.Second) // a new stream of the same name
	r.Add(b)
	r.Remove(a) // the old one's removal keeps the new one
	if got := r.MapTS("a", 5); got != 5 {
		t.Fatalf("MapTS %d after replacement, want 5", got)
	}
	r.Remove(b)
	if got := r.MapTS("a", 5); got != 5 {
		t.Fatalf("MapTS %d after removal, want 5", got)
	}
}
