package whip

import (
	"testing"

	"github.com/pion/rtp"
)

func TestREMBEstimate(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		prev, received, loss float64
		want                 float64
	}{
		{"first, clean", 0, 2e6, 0, 3e6},
		{"clean grows at least 8%", 4e6, 2e6, 0, 4.32e6},
		{"some loss holds", 4e6, 2e6, 0.05, 2e6},
		{"heavy loss backs off", 4e6, 2e6, 0.3, 1.7e6},
		{"floor", 0, 10e3, 0.5, rembMin},
		{"ceiling", 19e6, 19e6, 0, rembMax},
	} {
		if got := rembEstimate(tc.prev, tc.received, tc.loss); got < tc.want*0.999 || got > tc.want*1.001 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRxCountLoss: lost sequence numbers (and a wrap) count as expected
// but not received; reordered late packets do not stretch the interval.
func TestRxCountLoss(t *testing.T) {
	var c rxCount
	for _, seq := range []uint16{65530, 65531, 65533, 65535, 0, 65534, 3} {
		c.add(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: make([]byte, 88)})
	}
	bytes, packets, expected := c.take()
	if packets != 7 || expected != 10 || bytes != 7*100 {
		t.Fatalf("packets %d, expected %d, bytes %d; want 7, 10, 700", packets, expected, bytes)
	}
	c.add(&rtp.Packet{Header: rtp.Header{SequenceNumber: 5}})
	if _, n, e := c.take(); n != 1 || e != 2 {
		t.Fatalf("next interval: %d of %d, want 1 of 2 (4 was lost)", n, e)
	}
}
