package checkout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The control side of an opening lottery: it starts the window with a
// fresh secret seed whose hash is published at once, and at the window's
// end draws: ranks the entries by sha256(seed || id), sells them in that
// order while stock lasts, records every entry's result, then reveals the
// seed and opens the drop. A draw cut off half-way (the origin died) is
// run again from the stored seed and gives the same result: Award is
// idempotent by order id and results are rewritten the same.

// lotteryMetrics are the Control's lottery collectors.
type lotteryMetrics struct {
	entries *prometheus.CounterVec
	draw    prometheus.Histogram
}

func newLotteryMetrics(reg prometheus.Registerer) (*lotteryMetrics, error) {
	m := &lotteryMetrics{
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_lottery_entries_total",
			Help: "Opening-lottery entries drawn, by result (won, lost: sold out before its turn, limit: refused by a purchase limit)."}, []string{"result"}),
		draw: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_checkout_lottery_draw_duration_seconds",
			Help: "Time an opening draw takes, from the window's end to the drop open.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	for _, col := range []prometheus.Collector{m.entries, m.draw} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// awardBatch is how many winners one Award call sells.
const awardBatch = 200

// startLottery opens the window of a lottery drop now.
func (c *Control) startLottery(ctx context.Context, id string) (LotteryInfo, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return LotteryInfo{}, fmt.Errorf("lottery seed: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	info, err := c.store.StartLottery(cctx, id, seed, c.now())
	if err != nil {
		return LotteryInfo{}, err
	}
	c.logger.Info("opening lottery started", "drop", id, "seed_hash", info.SeedHash, "window_ms", info.WindowMs)
	if c.onState != nil {
		c.onState(id, StateDrawing)
	}
	return info, nil
}

// draw runs the draw of drop d (state drawing) whose window has ended.
func (c *Control) draw(ctx context.Context, d Drop, info LotteryInfo) error {
	start := time.Now()
	seed, err := hex.DecodeString(info.Seed)
	if err != nil || len(seed) == 0 {
		return fmt.Errorf("lottery of drop %s: stored seed unreadable", d.ID)
	}
	cctx, cancel := context.WithTimeout(ctx, 4*c.cfg.StoreTimeout)
	defer cancel()
	if err := c.store.CloseEntries(cctx, d.ID); err != nil {
		return err
	}
	entries, err := c.store.Entries(cctx, d.ID)
	if err != nil {
		return err
	}
	byID := make(map[string]*Entry, len(entries))
	ids := make([]string, len(entries))
	for i := range entries {
		byID[entries[i].ID] = &entries[i]
		ids[i] = entries[i].ID
	}
	order := DrawOrder(seed, ids)
	now := c.now().UTC()
	place := 0
	for from := 0; from < len(order); from += awardBatch {
		part := order[from:min(len(order), from+awardBatch)]
		items := make([]ShipItem, 0, len(part))
		for _, id := range part {
			items = append(items, c.awardItem(d, byID[id], now))
		}
		res, err := c.store.Award(cctx, items)
		if err != nil {
			return fmt.Errorf("draw of drop %s: %w", d.ID, err)
		}
		for i, r := range res {
			e := byID[part[i]]
			switch r.Outcome {
			case OutcomeCreated, OutcomeExists, OutcomeDuplicate:
				e.Result, e.Order = EntryWon, r.Order.ID
			case OutcomeLimit:
				e.Result = EntryLimit
			case OutcomeSoldOut:
				place++
				e.Result, e.Place = EntryLost, place
			case OutcomeNotOpen:
				return fmt.Errorf("draw of drop %s: the drop left state drawing: %w", d.ID, ErrConflict)
			default:
				return fmt.Errorf("draw of drop %s: unexpected outcome %q", d.ID, r.Outcome)
			}
		}
	}
	if err := c.store.SetResults(cctx, d.ID, entries); err != nil {
		return err
	}
	if place > 0 { // the lost wait for units that come back (waitlist.go)
		if err := c.store.SetWaitlist(cctx, d.ID, waitingOf(entries)); err != nil {
			return err
		}
	}
	if err := c.releaseEntryHolds(cctx, entries); err != nil { // lottery_hold.go
		c.logger.Warn("lottery entries' payment holds not all given back", "drop", d.ID, "err", err)
	}
	if err := c.store.FinishLottery(cctx, d.ID); err != nil {
		return err
	}
	won := len(entries) - place
	for _, e := range entries {
		c.lot.entries.WithLabelValues(e.Result).Inc()
		if e.Result == EntryLimit {
			won--
		}
	}
	c.lot.draw.Observe(time.Since(start).Seconds())
	c.logger.Info("opening lottery drawn; drop open", "drop", d.ID, "entries", len(entries), "won", won,
		"waitlist", place, "seed", info.Seed, "seed_hash", info.SeedHash)
	if c.onState != nil {
		c.onState(d.ID, StateOpen)
	}
	return nil
}

// awardItem is the sale of entry e. Its order names LotteryEdge, not the
// entry's edge: a retry sold again from some edge's lease is then a
// duplicate, whose units go back to that lease (edge_ship.go).
func (c *Control) awardItem(d Drop, e *Entry, now time.Time) ShipItem {
	def, _ := d.SKU(e.SKU)
	price, currency := e.terms(def)
	o := Order{
		ID: e.ID, Drop: d.ID, SKU: e.SKU, Qty: e.Qty, Buyer: e.Buyer,
		PriceCents: price, Currency: currency, TotalCents: price * int64(e.Qty),
		Status: StatusPending, Edge: LotteryEdge, CreatedAt: now, Limits: e.Limits, Pay: e.Pay,
		Fulfilment: e.Fulfilment,
	}
	return ShipItem{Order: o, Limits: limitsOfKeys(def, e.Limits), Hold: c.cfg.HoldTime}
}

// lotteryOf reads the public record of a drop's lottery: nil before it
// started; the seed only after the draw.
func lotteryOf(ctx context.Context, s Store, drop string) (*LotteryInfo, error) {
	info, err := s.Lottery(ctx, drop)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !info.Drawn {
		info.Seed = ""
	}
	return &info, nil
}
