package whep

import "testing"

// TestAudienceReports: a node's report replaces its one viewer; reports
// that are not one (garbage, negative, absurd) change nothing.
func TestAudienceReports(t *testing.T) {
	var a audience
	a.init()
	if a.count() != 1 {
		t.Fatalf("before a report: %d, want 1", a.count())
	}
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{`{"viewers":7}`, 7},
		{`not json`, 7},
		{`{"viewers":-3}`, 7},
		{`{"viewers":100000000}`, 7},
		{`{"type":"pin"}`, 7},
		{`{"viewers":2}`, 2},
	} {
		a.take([]byte(tc.msg))
		if a.count() != tc.want {
			t.Fatalf("after %s: %d, want %d", tc.msg, a.count(), tc.want)
		}
	}
}
