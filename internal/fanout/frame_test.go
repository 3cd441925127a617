package fanout

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/internal/stream"
)

func TestFrameEnd(t *testing.T) {
	v := func(ts uint32, marker bool) *stream.Packet {
		return &stream.Packet{Kind: stream.Video, Header: rtp.Header{Timestamp: ts, Marker: marker}}
	}
	a := &stream.Packet{Kind: stream.Audio}
	tests := []struct {
		name  string
		batch []*stream.Packet
		want  int
	}{
		{"empty", nil, 0},
		{"audio only", []*stream.Packet{a, a}, 2},
		{"whole frame", []*stream.Packet{v(1, false), v(1, false), v(1, true)}, 3},
		{"frame and audio after it", []*stream.Packet{v(1, false), v(1, true), a}, 3},
		{"unfinished frame waits", []*stream.Packet{v(1, false), v(1, false)}, 0},
		{"whole frame, then the start of the next", []*stream.Packet{v(1, false), v(1, true), v(2, false), a}, 2},
		{"lost marker: a new timestamp ends the old frame", []*stream.Packet{v(1, false), v(2, false)}, 1},
	}
	for _, tt := range tests {
		if got := frameEnd(tt.batch); got != tt.want {
			t.Errorf("%s: frameEnd = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestArrange: whole frames leave; with AudioHold, audio waits for the
// next frame's end, at most AudioHold, and leaves after the frame's
// packets.
func TestArrange(t *testing.T) {
	now := time.Now()
	var (
		v1  = &stream.Packet{Kind: stream.Video, Header: rtp.Header{Timestamp: 1, SequenceNumber: 1}}
		v1m = &stream.Packet{Kind: stream.Video, Header: rtp.Header{Timestamp: 1, SequenceNumber: 2, Marker: true}}
		v2  = &stream.Packet{Kind: stream.Video, Header: rtp.Header{Timestamp: 2, SequenceNumber: 3}}
	)
	audio := func(age time.Duration) *stream.Packet {
		return &stream.Packet{Kind: stream.Audio, Arrival: now.Add(-age)}
	}
	a10, a60, a5 := audio(10*time.Millisecond), audio(60*time.Millisecond), audio(5*time.Millisecond)
	tests := []struct {
		name  string
		hold  time.Duration
		force bool
		batch []*stream.Packet
		want  []*stream.Packet // what leaves, in order
		rest  []*stream.Packet // what waits, in order
		wait  time.Duration
	}{
		{"audio leaves after the frame it waited for", 50 * time.Millisecond, false,
			[]*stream.Packet{a10, v1, v1m}, []*stream.Packet{v1, v1m, a10}, nil, frameHold},
		{"audio after the frame waits for the next", 50 * time.Millisecond, false,
			[]*stream.Packet{v1, v1m, a10}, []*stream.Packet{v1, v1m}, []*stream.Packet{a10}, 40 * time.Millisecond},
		{"audio alone waits", 50 * time.Millisecond, false,
			[]*stream.Packet{a5}, nil, []*stream.Packet{a5}, 45 * time.Millisecond},
		{"audio that waited AudioHold leaves", 50 * time.Millisecond, false,
			[]*stream.Packet{v1, v1m, a60}, []*stream.Packet{v1, v1m, a60}, nil, frameHold},
		{"audio before an unfinished frame waits with it", 50 * time.Millisecond, false,
			[]*stream.Packet{v1m, a10, v2}, []*stream.Packet{v1m}, []*stream.Packet{a10, v2}, frameHold},
		{"forced: all leaves, video first", 50 * time.Millisecond, true,
			[]*stream.Packet{a10, v2, a5}, []*stream.Packet{v2, a10, a5}, nil, frameHold},
		{"no AudioHold: as it came", 0, false,
			[]*stream.Packet{a10, v1, v1m, a5}, []*stream.Packet{a10, v1, v1m, a5}, nil, frameHold},
	}
	for _, tt := range tests {
		w := &writer{e: &Engine{p: Params{AudioHold: tt.hold}}}
		batch := append([]*stream.Packet(nil), tt.batch...)
		ready, wait := w.arrange(batch, tt.force, now)
		if !slices.Equal(batch[:ready], tt.want) {
			t.Errorf("%s: %d packets leave (%v), want %d", tt.name, ready, batch[:ready], len(tt.want))
		}
		if wait != tt.wait {
			t.Errorf("%s: waits %v, want %v", tt.name, wait, tt.wait)
		}
		if !slices.Equal(batch[ready:], tt.rest) {
			t.Errorf("%s: %d packets wait, want %d", tt.name, len(batch)-ready, len(tt.rest))
		}
	}
}
