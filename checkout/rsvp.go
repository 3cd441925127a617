package checkout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RSVP drops: the seller reserves units of a SKU before the event and hands
// out one signed, single-use token per unit; an order carrying a token is
// sold from the reserved units until the token's deadline, after which the
// control side returns what was not redeemed to free stock. This file holds
// the types and the store's part of the contract.

// Limits of RSVP batches.
const (
	// MaxRSVPBatch is the most tokens one request issues.
	MaxRSVPBatch = 10_000
	// MaxRSVPWindow is how far ahead a batch's deadline may be.
	MaxRSVPWindow = 90 * 24 * time.Hour
)

// RSVP is what a verified RSVP token says: it holds one reserved unit of
// SKU in drop, from batch, until Deadline.
type RSVP struct {
	Drop, SKU, Batch string
	// Seq numbers the token in its batch (1..units).
	Seq      int
	Deadline time.Time
}

// ID names the token: single use is kept per ID.
func (r RSVP) ID() string { return r.Batch + "-" + strconv.Itoa(r.Seq) }

// ReserveOp moves Units free units of SKU into a reserved batch held until
// Deadline.
type ReserveOp struct {
	Drop, SKU, Batch string
	Units            int
	Deadline         time.Time
}

// RSVPStore is the store's part of RSVP drops; every Store implements it.
type RSVPStore interface {
	// Reserve moves op.Units free units into the reserved batch op.Batch
	// (ErrNotEnoughFree when fewer are free; ErrConflict for a closed drop
	// or a batch id taken; ErrNotFound).
	Reserve(ctx context.Context, op ReserveOp) error
	// SellRSVP records item as sold from r's batch and marks r used, in
	// one step: OutcomeCreated; OutcomeExists/OutcomeDuplicate for an order
	// id already recorded (a retry); OutcomeRSVPUsed when another order used
	// r; OutcomeRSVPExpired when the batch's deadline passed or its units
	// went back; OutcomeNotOpen, OutcomeLimit and OutcomeLimitHeld as for
	// SellDirect. Purchase limits apply as for a direct sale.
	SellRSVP(ctx context.Context, item ShipItem, r RSVP) (ShipResult, error)
	// ReapRSVPs returns the unredeemed units of drop's batches whose
	// deadline passed to free stock, and says how many.
	ReapRSVPs(ctx context.Context, drop string) (int, error)
	// RSVPBatches lists drop's batches with what became of each token.
	RSVPBatches(ctx context.Context, drop string) ([]RSVPBatchState, error)
	// CancelRSVP cancels token seq of drop's batch before it is used and
	// returns its unit to free stock, in one step; false when it was
	// already cancelled. ErrNotFound for no such token, ErrRSVPUsed when an
	// order used it, ErrRSVPExpired after the batch's deadline.
	CancelRSVP(ctx context.Context, drop, batch string, seq int) (bool, error)
}

// RSVPBatchState is one batch as the store has it.
type RSVPBatchState struct {
	Batch, SKU string
	// Units is how many tokens the batch was issued with (0 for batches
	// reserved before the store recorded it).
	Units int
	// Left is the units still reserved (not redeemed, cancelled or
	// returned).
	Left     int
	Deadline time.Time
	// Used maps a token's Seq to the order that used it; Cancelled holds
	// the Seqs the seller cancelled.
	Used      map[int]string
	Cancelled map[int]bool
}

// splitTokenID splits an RSVP token id (RSVP.ID) into batch and seq.
func splitTokenID(id string) (batch string, seq int, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.Atoi(id[i+1:])
	if err != nil || seq < 1 || !ValidID(id[:i]) {
		return "", 0, false
	}
	return id[:i], seq, true
}

// RSVP outcomes of SellRSVP.
const (
	OutcomeRSVPUsed    Outcome = "rsvpused"
	OutcomeRSVPExpired Outcome = "rsvpexpired"
	// OutcomeRSVPCancelled: the seller cancelled the token.
	OutcomeRSVPCancelled Outcome = "rsvpcancelled"
)

// RSVP errors; each names what the buyer or seller can do.
var (
	ErrNotEnoughFree = &classError{ClassConflict, "not enough free units to reserve"}
	ErrRSVPInvalid   = &classError{ClassInvalid, "RSVP token refused"}
	ErrRSVPExpired   = &classError{ClassConflict, "this RSVP has expired: its reserved unit went back to the open stock"}
	ErrRSVPUsed      = &classError{ClassConflict, "this RSVP has already been used"}
	ErrRSVPCancelled = &classError{ClassConflict, "this RSVP was cancelled by the seller"}
)

// Validate checks a reservation's fields (not the deadline against a clock).
func (op ReserveOp) Validate() error {
	switch {
	case !ValidID(op.Drop):
		return fmt.Errorf("%w: drop must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	case !ValidID(op.SKU):
		return fmt.Errorf("%w: sku must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	case !ValidID(op.Batch):
		return fmt.Errorf("%w: rsvp batch must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	case op.Units < 1 || op.Units > MaxRSVPBatch:
		return fmt.Errorf("%w: count must be 1-%d", ErrInvalid, MaxRSVPBatch)
	case op.Deadline.IsZero():
		return fmt.Errorf("%w: deadline is required", ErrInvalid)
	}
	return nil
}

// withTokens files each used or cancelled token (token id -> its order, or
// rsvpCancelledMark) under its batch in bs (byID: batch id -> index) and
// returns bs sorted.
func withTokens(bs []RSVPBatchState, byID map[string]int, used map[string]string) []RSVPBatchState {
	for tok, by := range used {
		batch, seq, ok := splitTokenID(tok)
		i, known := byID[batch]
		if !ok || !known {
			continue
		}
		if by == rsvpCancelledMark {
			bs[i].Cancelled[seq] = true
		} else {
			bs[i].Used[seq] = by
		}
	}
	sortBatches(bs)
	return bs
}

// sortBatches orders batches by deadline, then id.
func sortBatches(bs []RSVPBatchState) {
	slices.SortFunc(bs, func(a, b RSVPBatchState) int {
		if c := a.Deadline.Compare(b.Deadline); c != 0 {
			return c
		}
		return strings.Compare(a.Batch, b.Batch)
	})
}
