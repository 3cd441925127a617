package media

// OpusSamples is how many 48 kHz samples an Opus packet carries, by its
// TOC byte (RFC 6716 section 3.1); 0 for a packet too short to say.
func OpusSamples(pkt []byte) int {
	if len(pkt) == 0 {
		return 0
	}
	config := int(pkt[0] >> 3)
	var frame int // samples per frame at 48 kHz
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[config%4]
	case config < 16: // Hybrid: 10, 20 ms
		frame = []int{480, 960}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[config%4]
	}
	switch pkt[0] & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	}
	if len(pkt) < 2 {
		return 0
	}
	return frame * int(pkt[1]&0x3f)
}
