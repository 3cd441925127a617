package checkout

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// members.go decides who may buy a drop when, and at which price: a drop
// with member early access opens for members early_minutes before opens_at
// and for everyone at opens_at; a member order pays the SKU's member price
// (during early access and after it) when the SKU has one.

// MaxEarlyMinutes bounds a drop's member early access.
const MaxEarlyMinutes = 24 * 60

// Members is a drop's member early access: buyers whose session carries the
// seller's member flag may buy EarlyMinutes before opens_at.
type Members struct {
	EarlyMinutes int `json:"early_minutes"`
}

// ErrMembersOnly refuses a non-member while a drop is open to members only.
var ErrMembersOnly = &classError{ClassNotOpen, "members only until the drop opens"}

// MembersOnlyError is ErrMembersOnly with the time the drop opens for all.
type MembersOnlyError struct{ OpensAt time.Time }

func (e *MembersOnlyError) Error() string {
	return "this drop is open to members only until " + e.OpensAt.UTC().Format(time.RFC3339)
}

// Unwrap makes errors.Is(err, ErrMembersOnly) and ClassOf work.
func (e *MembersOnlyError) Unwrap() error { return ErrMembersOnly }

// MembersUntil is when a drop with member early access opens for everyone
// (zero: the drop has none).
func (d *Drop) MembersUntil() time.Time {
	if d.Members == nil || d.Members.EarlyMinutes == 0 {
		return time.Time{}
	}
	return d.OpensAt
}

// openTime is when the schedule opens d: opens_at, less the members' early
// minutes.
func (d *Drop) openTime() time.Time {
	if d.MembersUntil().IsZero() {
		return d.OpensAt
	}
	return d.OpensAt.Add(-time.Duration(d.Members.EarlyMinutes) * time.Minute)
}

// validateMembers checks the early access and the member prices of d.
func (d *Drop) validateMembers() error {
	if d.Members != nil {
		switch m := d.Members.EarlyMinutes; {
		case m < 1 || m > MaxEarlyMinutes:
			return fmt.Errorf("%w: members.early_minutes must be 1-%d", ErrInvalid, MaxEarlyMinutes)
		case d.OpensAt.IsZero():
			return fmt.Errorf("%w: members.early_minutes needs opens_at (members buy that long before it)", ErrInvalid)
		case d.Lottery != nil:
			return fmt.Errorf("%w: members early access and lottery cannot be combined", ErrInvalid)
		}
	}
	for i, k := range d.SKUs {
		if k.MemberPriceCents != 0 && (k.MemberPriceCents < 0 || k.MemberPriceCents >= k.PriceCents) {
			return fmt.Errorf("%w: skus[%d].member_price_cents must be more than 0 and less than price_cents", ErrInvalid, i)
		}
	}
	return nil
}

// memberTerms says whether a buyer (member or not) may buy def at now, of a
// drop open to members only until until (zero: to all), and at which unit
// price. The edge decides from its copy of the drop, without the store.
func memberTerms(until time.Time, def SKU, member bool, now time.Time) (int64, error) {
	if !member && !until.IsZero() && now.Before(until) {
		return 0, &MembersOnlyError{OpensAt: until}
	}
	if member && def.MemberPriceCents > 0 {
		return def.MemberPriceCents, nil
	}
	return def.PriceCents, nil
}

// memberResult labels a member order's result for the member metric.
func memberResult(err error) string {
	if errors.Is(err, ErrMembersOnly) {
		return "members_only"
	}
	return resultLabel(err)
}

// newMemberOrders is livedrop_checkout_member_orders_total: order requests
// of members, and non-members refused during early access, by result.
func newMemberOrders(reg prometheus.Registerer, edge string) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_member_orders_total",
		Help:        "Order requests of members by result, and of non-members refused while a drop is open to members only (result members_only).",
		ConstLabels: prometheus.Labels{"edge": edge}}, []string{"result"})
	return c, reg.Register(c)
}

// membersUntil reads MembersUntil of the edge's copy of the drop.
func (ed *edgeDrop) membersUntil() time.Time {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.d.MembersUntil()
}
