package checkouthttp

import (
	"errors"
	"net/http"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// The opening lottery over HTTP: an order taken as an entry is answered
// 202 "in line"; GET /v1/drops/{drop}/entries/{id} reads the session
// buyer's own entry: in line, won (with the order and its token) or lost
// (sold out, with a waitlist place).

// EntryAnswer is the body of an entry's answer.
type EntryAnswer struct {
	InLine bool   `json:"in_line"`
	Entry  string `json:"entry"`
	Drop   string `json:"drop"`
	// Result is "won", "lost" or "limit" after the draw ("" in line), or
	// "closed" when the seller closed the drop before its draw.
	Result        string `json:"result,omitempty"`
	WaitlistPlace int    `json:"waitlist_place,omitempty"`
	// Order is the won order, with the token that reads it.
	Order *PlacedOrder `json:"order,omitempty"`
	// DrawAt is when the window closes; the draw follows at once.
	DrawAt   time.Time `json:"draw_at,omitzero"`
	SeedHash string    `json:"seed_hash,omitempty"`
	// Seed is revealed after the draw: sha256(seed) is SeedHash, and
	// the draw ranks entries by sha256(seed || entry id).
	Seed string `json:"seed,omitempty"`
	// Location reads the entry again (poll it with backoff until Result).
	Location string `json:"location"`
	// Error and Code explain a lost or refused entry, as refused orders do.
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

func entryLocation(drop, id string) string { return "/v1/drops/" + drop + "/entries/" + id }

// writeEntry answers an order that is a lottery entry (202 in line, 409
// lost with its waitlist place, 422 refused by a limit at its turn); false
// when err is not an entry's answer.
func (a *EdgeAPI) writeEntry(w http.ResponseWriter, err error) bool {
	var ee *checkout.EntryError
	if !errors.As(err, &ee) {
		return false
	}
	en := ee.Entry
	body := EntryAnswer{Entry: en.ID, Drop: en.Drop, Result: en.Result, WaitlistPlace: en.Place,
		DrawAt: ee.DrawAt, SeedHash: ee.SeedHash, Location: entryLocation(en.Drop, en.ID)}
	code := http.StatusAccepted
	if checkout.ClassOf(err) == checkout.ClassInLine {
		body.InLine = true
	} else {
		code = statusOf(err)
		body.Error, body.Code = err.Error(), checkoutCode(err)
	}
	w.Header().Set("Location", body.Location)
	writeJSON(w, code, body)
	return true
}

// entry answers GET /v1/drops/{drop}/entries/{id} for the session's buyer.
func (a *EdgeAPI) entry(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.session(w, r)
	if !ok {
		return
	}
	drop, id := r.PathValue("drop"), r.PathValue("id")
	st, err := a.edge.Entry(r.Context(), sess.Buyer, drop, id)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	body := EntryAnswer{InLine: st.Entry.Result == checkout.EntryInLine, Entry: id, Drop: drop, Result: st.Entry.Result,
		WaitlistPlace: st.Entry.Place, SeedHash: st.Lottery.SeedHash, Seed: st.Lottery.Seed, Location: entryLocation(drop, id)}
	if !st.Lottery.StartedAt.IsZero() {
		body.DrawAt = st.Lottery.StartedAt.Add(time.Duration(st.Lottery.WindowMs) * time.Millisecond)
	}
	if st.Entry.Result == checkout.EntryClosed {
		body.Error, body.Code = (&checkout.EntryError{Entry: st.Entry}).Error(), checkoutCode(checkout.ErrNotOpen)
	}
	if st.Order != nil {
		body.Order = &PlacedOrder{Order: *st.Order, Token: a.tokens.Sign(st.Order.ID)}
	}
	writeJSON(w, http.StatusOK, body)
}
