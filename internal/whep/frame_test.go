package whep

import (
	"testing"

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
