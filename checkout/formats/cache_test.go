package formats_test

import (
	"context"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/formats"
	"github.com/livedrop/livedrop/checkout/wallet"
)

// TestReaderReusesItsReadForMaxAge: within MaxAge the figures come from
// the last read of the stores (the page asks every second); after it, from
// a new one. A reader without stores has empty figures.
func TestReaderReusesItsReadForMaxAge(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	clock := now
	ws := wallet.NewMemStore()
	r := formats.New(formats.Params{Wallet: ws, MaxAge: 5 * time.Second, Now: func() time.Time { return clock }})
	topUp := func(key string) {
		if _, _, err := ws.Apply(ctx, wallet.Movement{Key: key, Kind: wallet.KindTopUp, Buyer: "amy", AmountCents: 1000, Currency: "EUR", At: now}); err != nil {
			t.Fatal(err)
		}
	}
	liability := func() int64 {
		f, err := r.Formats(ctx, now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return f.Wallet["EUR"].LiabilityCents
	}
	topUp("t1")
	if got := liability(); got != 1000 {
		t.Fatalf("liability %d, want 1000", got)
	}
	topUp("t2")
	clock = now.Add(4 * time.Second)
	if got := liability(); got != 1000 {
		t.Fatalf("within MaxAge: liability %d, want the read of 4 s ago (1000)", got)
	}
	clock = now.Add(5 * time.Second)
	if got := liability(); got != 2000 {
		t.Fatalf("after MaxAge: liability %d, want 2000", got)
	}
	f, err := formats.New(formats.Params{}).Formats(ctx, now, now.Add(time.Hour))
	if err != nil || f.Auctions.LotsRun != 0 || len(f.Wallet) != 0 || f.Pickup.Orders != 0 || f.Auctions.Lots == nil {
		t.Fatalf("no stores: %+v %v", f, err)
	}
}
