package origin

import (
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

// FuzzAACDepacketize feeds fuzzed RTP payloads to the AAC depacketizers
// of an MPEG4-GENERIC and an MP4A-LATM camera (48 kHz stereo AAC-LC, as
// ffmpeg sends), as the origin's packet path does. Properties: no panic;
// every access unit handed to the transcoder is non-empty and no larger
// than the packet that carried it.
func FuzzAACDepacketize(f *testing.F) {
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}
	generic := &format.MPEG4Audio{PayloadTyp: 97, Config: cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	latm := &format.MPEG4AudioLATM{PayloadTyp: 96, CPresent: false, StreamMuxConfig: &mpeg4audio.StreamMuxConfig{
		Programs: []*mpeg4audio.StreamMuxConfigProgram{{Layers: []*mpeg4audio.StreamMuxConfigLayer{{AudioSpecificConfig: cfg, FrameLengthType: 0}}}},
	}}
	// Seeds: an AU-headers section with one 4-byte unit; a LATM length
	// of 4 and its unit; a fragment; nothing.
	f.Add([]byte{0x00, 0x10, 0x00, 0x20, 1, 2, 3, 4}, true, false)
	f.Add([]byte{0x04, 1, 2, 3, 4}, false, true)
	f.Add([]byte{0x00, 0x10, 0xff, 0xf8, 1, 2}, false, false)
	f.Add([]byte{}, true, true)
	f.Fuzz(func(t *testing.T, payload []byte, marker, useLATM bool) {
		var fm format.Format = generic
		if useLATM {
			fm = latm
		}
		decode, err := aacDecoder(fm)
		if err != nil {
			t.Fatalf("decoder: %v", err)
		}
		for seq := range uint16(3) { // a unit may span packets: feed it thrice
			aus, err := decode(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, SequenceNumber: seq, Timestamp: 1024 * uint32(seq)}, Payload: payload})
			if err != nil {
				continue
			}
			for _, au := range aus {
				if len(au) == 0 || len(au) > len(payload) {
					t.Fatalf("access unit of %d bytes from a %d-byte payload", len(au), len(payload))
				}
			}
		}
	})
}
