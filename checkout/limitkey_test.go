package checkout

import "testing"

// Limit keys hash device ids and addresses (the store never holds them in
// the clear), differ by kind and subject, and cost one allocation.
func TestLimitKeys(t *testing.T) {
	for _, c := range []struct{ kind, subj string }{{KindDevice, "phone-1"}, {KindIP, "2001:db8::/64"}, {KindIP, "198.51.100.7"}} {
		k := LimitKey(c.kind, c.subj)
		if len(k) != 26 || k[1] != ':' || kindOfKey(k) != c.kind {
			t.Fatalf("LimitKey(%s, %s) = %q", c.kind, c.subj, k)
		}
	}
	if k := LimitKey(KindBuyer, "alice"); k != "b:alice" {
		t.Fatalf("buyer key %q", k)
	}
	if LimitKey(KindDevice, "x") == LimitKey(KindIP, "x") || LimitKey(KindDevice, "x") == LimitKey(KindDevice, "y") ||
		LimitKey(KindDevice, "x") != LimitKey(KindDevice, "x") {
		t.Fatal("keys must differ by kind and subject, and be stable")
	}
	if n := testing.AllocsPerRun(100, func() { _ = LimitKey(KindIP, "198.51.100.7") }); n > 1 {
		t.Fatalf("LimitKey allocates %v times", n)
	}
}
