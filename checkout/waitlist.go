package checkout

import (
	"context"
	"sort"
)

// The lottery waitlist's rules, shared by the draw, the control loop and
// both stores: the draw files its lost entries (places 1..N) as waiting,
// and each SKU counts the units its waiting entries asked for. While a SKU
// has waiting units, free stock is the waitlist's first: edges lease, sell
// directly and reserve only what is free beyond them (openFree), so a unit
// that comes back (a refund or cancel with restock, a declined payment, an
// expired hold, an RSVP reservation returned at its deadline) is never sold
// to whoever taps next. The control loop then offers each free unit to the
// next waiting entry in place order (the first whose quantity fits): an
// order is created for its buyer at once, pending like a draw's winner's,
// and its payment starts when the buyer's page reads the entry; unpaid at
// hold_time, it is cancelled and its unit goes to the next place.

// WaitlistStore is the part of a Store that keeps a lottery's waitlist.
type WaitlistStore interface {
	// SetWaitlist files the draw's lost entries as waiting, in place order,
	// and sets each SKU's waiting units; the drop must be drawing (a rerun
	// draw files the same again).
	SetWaitlist(ctx context.Context, drop string, lost []Entry) error
	// Waiting lists up to n waiting entries of drop in place order, from
	// the from-th waiting one (0 the first); none when the drop has no
	// waitlist or it is done.
	Waiting(ctx context.Context, drop string, from, n int) ([]Entry, error)
	// OfferWaitlist sells item (the order of waiting entry item.Order.ID)
	// from free stock while the drop is open, atomically with taking the
	// entry off the waitlist: created (the entry reads won, its order and
	// its place), soldout (not enough free: it keeps waiting), limit (a
	// purchase limit refuses it: off the waitlist, result limit),
	// limitheld (an edge holds an allowance of one of its subjects: it
	// keeps waiting, the allowance is wanted back), exists or duplicate
	// (an order of the same id exists: the entry reads won), notopen, or
	// OutcomeNotWaiting (not on the waitlist, or no longer).
	OfferWaitlist(ctx context.Context, item ShipItem) (ShipResult, error)
}

// OutcomeNotWaiting answers OfferWaitlist for an entry that is not waiting.
const OutcomeNotWaiting Outcome = "notwaiting"

// waitingOf is the draw's lost entries in place order.
func waitingOf(entries []Entry) []Entry {
	var lost []Entry
	for _, e := range entries {
		if e.Result == EntryLost && e.Place > 0 {
			lost = append(lost, e)
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].Place < lost[j].Place })
	return lost
}

// openFree is the units of a SKU anyone may take: free beyond those its
// waitlist still waits for.
func openFree(free, waiting int) int {
	return max(0, free-max(0, waiting))
}

// luaOpenFree is openFree in the scripts: the open free units of the SKU
// hash key.
const luaOpenFree = `
local function openFree(key)
  local f = redis.call('HMGET', key, 'free', 'waitlist')
  local free, wl = tonumber(f[1] or '0') or 0, tonumber(f[2] or '0') or 0
  if wl < 0 then wl = 0 end
  if free - wl < 0 then return 0 end
  return free - wl
end
`
