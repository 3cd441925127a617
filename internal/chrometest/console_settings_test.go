package chrometest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// TestConsoleDropSettings: the drop form sets the fair-drop settings:
// member early minutes, a member price and an RSVP batch to reserve. A
// member price not below the price, or more RSVP units than stock, is
// refused in the form with words and saves nothing; the right ones are in
// the stored drop and its RSVP batch; editing shows them; once units are
// reserved an edit is refused with the store's words.
func TestConsoleDropSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dk := openDesk(ctx, t)
	dk.fillDrop(ctx, t, map[string]string{"id": "vip", "stream": "demo", "name": "VIP tee", "sku": "tee", "stock": "10", "max": "1",
		"price": "30.00", "currency": "EUR", "early": "15", "member-price": "30.00", "rsvp-units": "3"},
		map[string]time.Duration{"opens": time.Hour, "rsvp-deadline": 2 * time.Hour})
	save := func() {
		t.Helper()
		if err := dk.p.Click(ctx, tid("drop-form-save")); err != nil {
			t.Fatal(err)
		}
	}
	save()
	dk.say(ctx, t, "error", "Member price must be more than 0 and less than the price")
	dk.fillDrop(ctx, t, map[string]string{"member-price": "25.00", "rsvp-units": "11"}, nil)
	save()
	dk.say(ctx, t, "error", "RSVP units must be a whole number from 0 to 10")
	if _, err := dk.st.Drop(ctx, "vip"); !errors.Is(err, checkout.ErrNotFound) {
		t.Fatalf("a refused form stored the drop: %v", err)
	}

	dk.fillDrop(ctx, t, map[string]string{"rsvp-units": "", "rsvp-deadline": ""}, nil)
	save()
	dk.say(ctx, t, "ok", "Saved vip")
	d, err := dk.st.Drop(ctx, "vip")
	if err != nil {
		t.Fatal(err)
	}
	if d.Members == nil || d.Members.EarlyMinutes != 15 || d.SKUs[0].MemberPriceCents != 2500 || d.SKUs[0].PriceCents != 3000 ||
		d.OpensAt.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("drop as stored: %+v (members %+v)", d, d.Members)
	}

	// Editing shows the settings; a new member price and an RSVP batch
	// are saved together.
	edit := func() {
		t.Helper()
		mustWait(ctx, t, dk.p, exists("drop-edit-vip")+` !== null && !`+exists("drop-edit-vip")+`.disabled`, 10*time.Second)
		if err := dk.p.Click(ctx, tid("drop-edit-vip")); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, dk.p, `document.querySelector('[data-testid="drop-form-mode"]').textContent === 'Edit vip'`, 5*time.Second)
	}
	edit()
	for field, want := range map[string]string{"member-price": "25.00", "early": "15", "rsvp-units": "", "rsvp-deadline": ""} {
		mustWait(ctx, t, dk.p, `document.querySelector('[data-testid="drop-form-`+field+`"]').value === `+jsonString(want), 5*time.Second)
	}
	dk.fillDrop(ctx, t, map[string]string{"member-price": "22.00", "rsvp-units": "3"}, map[string]time.Duration{"rsvp-deadline": 2 * time.Hour})
	save()
	dk.say(ctx, t, "ok", "3 RSVP links reserved")
	if d, err = dk.st.Drop(ctx, "vip"); err != nil || d.SKUs[0].MemberPriceCents != 2200 || d.Members == nil || d.Members.EarlyMinutes != 15 {
		t.Fatalf("after the edit: %+v %v", d, err)
	}
	bs, err := dk.st.RSVPBatches(ctx, "vip")
	if err != nil || len(bs) != 1 || bs[0].SKU != "tee" || bs[0].Units != 3 || bs[0].Left != 3 {
		t.Fatalf("RSVP batches: %+v %v", bs, err)
	}
	if dl := time.Until(bs[0].Deadline); dl < 110*time.Minute || dl > 2*time.Hour {
		t.Fatalf("RSVP deadline in %v, want about 2 h", dl)
	}

	// With units reserved the store refuses edits: the form says so and
	// the drop stays as it was.
	edit()
	dk.fillDrop(ctx, t, map[string]string{"member-price": ""}, nil)
	save()
	dk.say(ctx, t, "error", "can no longer be edited")
	if d, err = dk.st.Drop(ctx, "vip"); err != nil || d.SKUs[0].MemberPriceCents != 2200 {
		t.Fatalf("after a refused edit: %+v %v", d, err)
	}
}
