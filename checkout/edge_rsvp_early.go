package checkout

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// An RSVP holder during member early access: the token's unit is held for
// its holder in the reserved bucket, not taken from the open pool the
// members buy from, so a holder who is not a member may use it before the
// drop opens for everyone, at the SKU's normal price (members with a token
// pay the member price as always). Only a token that verifies for the
// order's drop and SKU (or one past its deadline, whose retry is answered
// with the order it bought) lets a non-member through; without one, or
// with a forged one, the refusal is members only as before.

// rsvpEarly says whether a members-only refusal err of req is lifted by
// req's RSVP token.
func (e *Edge) rsvpEarly(req OrderRequest, err error) bool {
	if req.RSVP == "" || e.rsvp.keys == nil || !errors.Is(err, ErrMembersOnly) {
		return false
	}
	if _, verr := e.rsvp.keys.Verify(req.RSVP, req.Drop, req.SKU); verr != nil && !errors.Is(verr, ErrRSVPExpired) {
		return false
	}
	e.rsvp.early.Inc()
	return true
}

func registerRSVPEarly(reg prometheus.Registerer, edge string, r *edgeRSVP) error {
	r.early = prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_rsvp_early_access_total",
		Help:        "Orders of RSVP holders who are not members let through during member early access (the token's reserved unit, at the normal price).",
		ConstLabels: prometheus.Labels{"edge": edge}})
	return reg.Register(r.early)
}
