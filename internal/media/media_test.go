package media

import (
	"regexp"
	"strings"
	"testing"
)

func TestValidNameMatchesPattern(t *testing.T) {
	re := regexp.MustCompile(NamePattern)
	for _, s := range []string{"", "cam1", "Cam_1-a", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"cam 1", "cam/1", "../x", "cäm", "cam.1", "-", "_"} {
		if got, want := ValidName(s), re.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v, pattern says %v", s, got, want)
		}
	}
}

func FuzzValidName(f *testing.F) {
	re := regexp.MustCompile(NamePattern)
	for _, s := range []string{"cam1", "", "a b", strings.Repeat("z", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidName(s) != re.MatchString(s) {
			t.Fatalf("ValidName(%q) disagrees with NamePattern", s)
		}
	})
}

func TestOpusSamples(t *testing.T) {
	for _, tc := range []struct {
		pkt  []byte
		want int
	}{
		{nil, 0},
		{[]byte{0xfc}, 960},        // CELT FB 20 ms, one frame (libopus lowdelay)
		{[]byte{0x78}, 960},        // SILK WB 20 ms... config 15: hybrid FB 20 ms
		{[]byte{0x08}, 960},        // SILK NB 20 ms
		{[]byte{0x0b, 0x03}, 2880}, // SILK NB 20 ms, code 3, 3 frames
		{[]byte{0x0b}, 0},          // code 3 without its count
		{[]byte{0xe1}, 240},        // CELT 2.5 ms, two frames
	} {
		if got := OpusSamples(tc.pkt); got != tc.want {
			t.Errorf("OpusSamples(%x) = %d, want %d", tc.pkt, got, tc.want)
		}
	}
}
