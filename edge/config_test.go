package edge

import (
	"slices"
	"strings"
	"testing"
)

// TestSiblingsConfig: siblings and public_url must be base URLs; the move
// targets are their origins, this edge's own and repeats left out.
func TestSiblingsConfig(t *testing.T) {
	base := DefaultConfig()
	base.Access.NodeSecrets = []string{"0123456789abcdef0123456789abcdef"}
	c := base
	c.Siblings = []string{"http://10.0.0.1:8080", "HTTPS://Edge-B.example.com/", "http://10.0.0.2:8080", "http://10.0.0.1:8080"}
	c.PublicURL = "http://10.0.0.2:8080"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := c.MoveTargets(), []string{"http://10.0.0.1:8080", "https://edge-b.example.com"}; !slices.Equal(got, want) {
		t.Fatalf("move targets %v, want %v", got, want)
	}
	for _, tc := range []struct {
		siblings []string
		public   string
		want     string
	}{
		{[]string{"edge-b:8080"}, "", "siblings[0]:"},
		{[]string{"http://ok:1", "ftp://edge-b"}, "", "siblings[1]:"},
		{[]string{"http://edge-b/watch/demo"}, "", "siblings[0]:"},
		{nil, "http://x/?q=1", "public_url:"},
	} {
		c := base
		c.Siblings, c.PublicURL = tc.siblings, tc.public
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("siblings %v public %q: %v, want %s...", tc.siblings, tc.public, err, tc.want)
		}
	}
	c = base
	c.MoveGrace = -1
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "move_grace:") {
		t.Fatalf("negative move_grace: %v", err)
	}
}
