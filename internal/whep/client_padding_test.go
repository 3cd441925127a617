package whep

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// A padded packet reaches OnPacket as its media alone, without the P bit
// (forwarded as it came, it would tell the next player to cut the last
// bytes of the media); a padding-only probe does not reach it.
func TestWithoutPadding(t *testing.T) {
	media := []byte{0x41, 1, 2, 3, 4, 5}
	padded := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: 7, SSRC: 9, Padding: true},
		Payload: media, PaddingSize: 4}
	raw, err := padded.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got rtp.Packet
	if err := got.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if !withoutPadding(&got) || got.Padding || got.Header.PaddingSize != 0 || got.PaddingSize != 0 || !bytes.Equal(got.Payload, media) {
		t.Fatalf("padded packet: %+v payload %x", got.Header, got.Payload)
	}
	out, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var again rtp.Packet
	if err := again.Unmarshal(out); err != nil || !bytes.Equal(again.Payload, media) {
		t.Fatalf("forwarded packet reads back as %x (%v), want %x", again.Payload, err, media)
	}

	probe := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: 8, SSRC: 9, Padding: true}, PaddingSize: 200}
	raw, _ = probe.Marshal()
	if err := got.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if withoutPadding(&got) {
		t.Fatal("a padding-only packet was passed on as media")
	}
}
