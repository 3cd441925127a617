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
