package avc

import (
	"bytes"
	"errors"
	"testing"
)

var (
	sps = []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	pps = []byte{0x68, 0xce, 0x3c, 0x80}
)

// idr returns an IDR slice of the given size: first_mb 0 (bit 1), slice_type 7 (I).
func idr(size int) []byte {
	b := bytes.Repeat([]byte{0xaa}, size)
	b[0] = 0x65
	b[1] = 0x88 // 1 (first_mb=0), 0001000 -> ue 7
	return b
}

func slice(sliceType byte, size int) []byte {
	b := bytes.Repeat([]byte{0x55}, size)
	b[0] = 0x41
	switch sliceType {
	case 0: // P: ue(0) = 1
		b[1] = 0xc0
	case 1: // B: ue(1) = 010
		b[1] = 0xa0
	}
	return b
}

func collect(t *testing.T, n *Normalizer, payload []byte, ts uint32, marker bool) []Out {
	t.Helper()
	var out []Out
	if err := n.Push(payload, ts, marker, func(o Out) {
		o.Payload = append([]byte(nil), o.Payload...)
		out = append(out, o)
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInjectsParamsBeforeIDR(t *testing.T) {
	n := &Normalizer{}
	n.SetParams(sps, pps)
	out := collect(t, n, idr(500), 3000, true)
	if len(out) != 2 {
		t.Fatalf("got %d payloads, want STAP-A + IDR", len(out))
	}
	if out[0].Payload[0]&0x1f != TypeSTAPA || !out[0].Keyframe || out[0].Marker {
		t.Fatalf("first payload %x keyframe=%v", out[0].Payload[:3], out[0].Keyframe)
	}
	if !bytes.Equal(out[0].Payload, BuildSTAPA(sps, pps)) || out[1].Keyframe || !out[1].Marker {
		t.Fatal("wrong parameter sets or flags")
	}
	// A second slice of the same access unit gets no second copy.
	if out := collect(t, n, idr(100), 3000, true); len(out) != 1 {
		t.Fatalf("params repeated within one access unit: %d payloads", len(out))
	}
	// The next IDR gets them again.
	if out := collect(t, n, idr(100), 6000, true); len(out) != 2 {
		t.Fatalf("next IDR: %d payloads", len(out))
	}
}

func TestInBandParamsNotDuplicated(t *testing.T) {
	n := &Normalizer{}
	collect(t, n, sps, 90, false)
	collect(t, n, pps, 90, false)
	if out := collect(t, n, idr(200), 90, true); len(out) != 1 {
		t.Fatalf("in-band SPS/PPS were followed by an injected copy: %d", len(out))
	}
	got, _ := n.Params()
	if !bytes.Equal(got, sps) {
		t.Fatal("in-band SPS not learnt")
	}
	// A STAP-A carrying SPS/PPS/IDR is a keyframe and passes through.
	out := collect(t, n, BuildSTAPA(sps, pps, idr(50)), 180, true)
	if len(out) != 1 || !out[0].Keyframe {
		t.Fatalf("stap-a: %+v", out)
	}
}

func TestFragmentsLargeNALUs(t *testing.T) {
	n := &Normalizer{MaxPayload: 1200}
	n.SetParams(sps, pps)
	big := idr(5000)
	out := collect(t, n, big, 1, true)
	var rebuilt []byte
	for i, o := range out[1:] {
		// 4,999 body bytes: 5 pieces of 1,000 less one byte, the longer first.
		if want := 2 + 999 + map[bool]int{true: 1}[i < 4]; len(o.Payload) != want {
			t.Fatalf("payload %d is %d bytes, want %d", i, len(o.Payload), want)
		}
		if o.Payload[0]&0x1f != TypeFUA {
			t.Fatal("not FU-A")
		}
		if (o.Payload[1]&0x80 != 0) != (i == 0) || (o.Payload[1]&0x40 != 0) != (i == len(out)-2) {
			t.Fatalf("start/end bits wrong on fragment %d", i)
		}
		if o.Marker != (i == len(out)-2) {
			t.Fatal("marker must be on the last fragment only")
		}
		rebuilt = append(rebuilt, o.Payload[2:]...)
	}
	if !bytes.Equal(append([]byte{big[0]}, rebuilt...), big) {
		t.Fatal("fragments do not rebuild the NAL unit")
	}
}

func TestRefragmentsLargeFUA(t *testing.T) {
	n := &Normalizer{MaxPayload: 1200}
	n.SetParams(sps, pps)
	// An IDR of 3,500 bytes as ffmpeg sends it: FU-A fragments of 1,472.
	nal := idr(3500)
	var src [][]byte
	for body, first := nal[1:], true; len(body) > 0; first = false {
		size := min(1470, len(body))
		hdr := byte(TypeIDR)
		if first {
			hdr |= 0x80
		}
		if size == len(body) {
			hdr |= 0x40
		}
		src = append(src, append([]byte{nal[0]&0xe0 | TypeFUA, hdr}, body[:size]...))
		body = body[size:]
	}
	var out []Out
	for i, p := range src {
		out = append(out, collect(t, n, p, 9, i == len(src)-1)...)
	}
	if out[0].Payload[0]&0x1f != TypeSTAPA || !out[0].Keyframe {
		t.Fatal("SPS/PPS must come first, marked where decoding starts")
	}
	out = out[1:]
	if len(out) != 3 { // 3,499 body bytes in 1,198-byte pieces, not 6 pieces
		t.Fatalf("got %d pieces, want 3", len(out))
	}
	var rebuilt []byte
	for i, o := range out {
		last := i == len(out)-1
		// Equal pieces, as far as bytes divide: 1,167 + 1,166 + 1,166.
		if want := 2 + 3499/3 + map[bool]int{true: 1}[i < 3499%3]; len(o.Payload) != want {
			t.Fatalf("piece %d is %d bytes, want %d (equal pieces, the longer first)", i, len(o.Payload), want)
		}
		if (o.Payload[1]&0x80 != 0) != (i == 0) || (o.Payload[1]&0x40 != 0) != last || o.Marker != last || o.Keyframe {
			t.Fatalf("piece %d: start/end/marker/keyframe wrong: %x %v %v", i, o.Payload[:2], o.Marker, o.Keyframe)
		}
		rebuilt = append(rebuilt, o.Payload[2:]...)
	}
	if !bytes.Equal(append([]byte{nal[0]}, rebuilt...), nal) {
		t.Fatal("pieces do not rebuild the NAL unit")
	}

	// A lost source packet abandons the NAL unit instead of sending a hole.
	collect(t, n, src[0], 10, false)
	n.Discontinuity()
	if got := collect(t, n, src[2], 10, true); len(got) != 0 {
		t.Fatalf("%d pieces emitted from after the loss", len(got))
	}
}

// TestHoldsAtMostFUHoldMax: a source that never ends its FU-A NAL unit
// cannot make the normalizer keep it: past fuHoldMax, whole pieces leave.
func TestHoldsAtMostFUHoldMax(t *testing.T) {
	n := &Normalizer{MaxPayload: 1200}
	frag := func(hdr byte) []byte { return append([]byte{0x7c, hdr}, bytes.Repeat([]byte{9}, 1470)...) }
	var out []Out
	push := func(p []byte, marker bool) {
		out = append(out, collect(t, n, p, 1, marker)...)
	}
	push(frag(0x85), false)
	for len(n.fu.buf)+1470 < fuHoldMax {
		push(frag(0x05), false)
	}
	if len(out) != 0 {
		t.Fatalf("%d pieces left before the NAL unit ended or %d bytes were held", len(out), fuHoldMax)
	}
	push(frag(0x05), false) // past the limit
	if len(out) == 0 || len(n.fu.buf) >= 1198 {
		t.Fatalf("past the limit: %d pieces out, %d bytes held", len(out), len(n.fu.buf))
	}
	for i, o := range out {
		if len(o.Payload) != 1200 || (o.Payload[1]&0x80 != 0) != (i == 0) || o.Payload[1]&0x40 != 0 || o.Marker {
			t.Fatalf("piece %d: %d bytes, header %x, marker %v", i, len(o.Payload), o.Payload[:2], o.Marker)
		}
	}
	sent := len(out)
	push(frag(0x45), true)
	last := out[len(out)-1]
	if len(out) <= sent || last.Payload[1]&0x40 == 0 || !last.Marker {
		t.Fatal("the NAL unit's end did not leave with the end bit and marker")
	}
}

// TestDropsAccessUnitDelimiters: an AUD alone would cost every viewer a
// datagram per frame; it is dropped, unless it carries the frame's marker.
func TestDropsAccessUnitDelimiters(t *testing.T) {
	n := &Normalizer{}
	aud := []byte{0x09, 0xf0}
	if out := collect(t, n, aud, 1, false); len(out) != 0 {
		t.Fatalf("AUD emitted: %+v", out)
	}
	if out := collect(t, n, slice(0, 300), 1, true); len(out) != 1 || !out[0].Marker {
		t.Fatalf("the frame after the AUD: %+v", out)
	}
	if out := collect(t, n, aud, 2, true); len(out) != 1 || !out[0].Marker {
		t.Fatal("an AUD with the marker must pass: it ends the frame")
	}
}

func TestDetectsBFrames(t *testing.T) {
	n := &Normalizer{}
	collect(t, n, slice(0, 20), 1, true)
	if n.BFrames() {
		t.Fatal("P slice taken for B")
	}
	collect(t, n, slice(1, 20), 2, true)
	if !n.BFrames() {
		t.Fatal("B slice not detected")
	}
}

func TestRejectsMalformed(t *testing.T) {
	tests := map[string][]byte{
		"empty":          {},
		"stap-b":         {25, 0, 1},
		"short fu-a":     {0x7c},
		"stap-a overrun": {0x78, 0x00, 0x09, 0x67},
		"stap-a zero":    {0x78, 0x00, 0x00},
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			n := &Normalizer{}
			emitted := 0
			err := n.Push(p, 0, true, func(Out) { emitted++ })
			if err == nil || emitted != 0 {
				t.Fatalf("err=%v emitted=%d", err, emitted)
			}
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("unclassified error %v", err)
			}
		})
	}
}

func TestIsKeyframeStart(t *testing.T) {
	if !IsKeyframeStart(BuildSTAPA(sps, pps)) || !IsKeyframeStart(idr(10)) || IsKeyframeStart(slice(0, 10)) {
		t.Fatal("wrong")
	}
	if !IsKeyframeStart([]byte{0x7c, 0x85, 0}) || IsKeyframeStart([]byte{0x7c, 0x05, 0}) {
		t.Fatal("fu-a")
	}
}

// FuzzNormalizer feeds a sequence of payloads (each prefixed with its
// length byte) through one normalizer: every emitted payload is non-empty
// and within MaxPayload, whatever state earlier payloads left.
func FuzzNormalizer(f *testing.F) {
	seq := func(payloads ...[]byte) []byte {
		var out []byte
		for _, p := range payloads {
			out = append(out, byte(len(p)))
			out = append(out, p...)
		}
		return out
	}
	body := bytes.Repeat([]byte{7}, 150)
	f.Add(seq(idr(200)), true)
	f.Add(seq(BuildSTAPA(sps, pps, idr(30))), false)
	f.Add(seq([]byte{0x7c, 0x85, 0x88, 1, 2, 3}), true)
	f.Add(seq([]byte{0x78, 0x00, 0x09, 0x67}), false)
	// an oversized FU-A NAL unit in three fragments, then one cut short
	f.Add(seq(append([]byte{0x7c, 0x85}, body...), append([]byte{0x7c, 0x05}, body...), append([]byte{0x7c, 0x45}, body[:40]...),
		append([]byte{0x7c, 0x81}, body...), []byte{0x7c, 0x41, 1}), true)
	f.Fuzz(func(t *testing.T, data []byte, marker bool) {
		n := &Normalizer{MaxPayload: 100}
		n.SetParams(sps, pps)
		for ts := uint32(1); len(data) > 0; ts++ {
			size := min(int(data[0]), len(data)-1)
			payload := data[1 : 1+size]
			data = data[1+size:]
			if ts%7 == 0 {
				n.Discontinuity()
			}
			_ = n.Push(payload, ts/3, marker, func(o Out) {
				if len(o.Payload) == 0 || len(o.Payload) > 100 {
					t.Fatalf("bad payload size %d", len(o.Payload))
				}
			})
			IsKeyframeStart(payload)
		}
	})
}
