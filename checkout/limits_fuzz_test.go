package checkout

import (
	"strings"
	"testing"
)

// FuzzOrderLimits feeds an order request's buyer, device and address (the
// outside input limits are keyed by). Properties: Validate never panics;
// a valid request's limit keys are well formed (the store splits fields on
// '|' and holders on ' ', so neither may appear), one per limited kind, and
// the same input always gives the same keys.
func FuzzOrderLimits(f *testing.F) {
	f.Add("alice", "phone-1", "198.51.100.7")
	f.Add("b@x.io", "", "2001:db8::/64")
	f.Add("x", "dev|ice", "1.2.3.4 5")
	f.Add("", "\x00", "")
	f.Fuzz(func(t *testing.T, buyer, device, ip string) {
		req := OrderRequest{Drop: "d", SKU: "tee", Qty: 1, Buyer: buyer, Device: device, IP: ip, IdempotencyKey: "k"}
		if err := req.Validate(); err != nil {
			if ClassOf(err) != ClassInvalid {
				t.Fatalf("a refusal of class %v: %v", ClassOf(err), err)
			}
			return
		}
		def := SKU{SKU: "tee", MaxPerBuyer: 1, MaxPerDevice: 2, MaxPerIP: 3}
		lims := limitsOf(def, buyer, device, ip)
		want := 1
		if device != "" {
			want++
		}
		if ip != "" {
			want++
		}
		if len(lims) != want {
			t.Fatalf("%d limits for %q %q %q, want %d", len(lims), buyer, device, ip, want)
		}
		for i, l := range lims {
			if strings.ContainsAny(l.Key, "| \x00") || kindOfKey(l.Key) == "" || l.Max < 1 {
				t.Fatalf("limit %d: %+v", i, l)
			}
			if again := limitsOf(def, buyer, device, ip)[i]; again != l {
				t.Fatalf("keys differ for the same input: %+v %+v", l, again)
			}
		}
		if got := limitsOfKeys(def, limitKeys(lims)); len(got) != len(lims) || got[0] != lims[0] {
			t.Fatalf("keys back to limits: %+v, want %+v", got, lims)
		}
	})
}
