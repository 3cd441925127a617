package overlay

import (
	"context"
	"slices"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// BoardStore keeps each stream's pinned overlays where every origin reads
// them (Redis), so that a standby origin, or an origin restarted, shows the
// same cards. Only the seller's pins and unpins are stored: what follows
// from the drops (stock, a closed drop's cards gone) and from the clock (a
// countdown's end) every origin works out for itself.
type BoardStore interface {
	// SaveBoard stores stream's board if the stored version is still
	// expect (0: none stored) and returns the new version. When another
	// origin saved since, ok is false and cur is the stored board.
	SaveBoard(ctx context.Context, stream string, expect uint64, b SharedBoard) (ver uint64, ok bool, cur SharedBoard, err error)
	// LoadBoards returns every stored board, by stream; with an error and
	// a map, the boards that could be read.
	LoadBoards(ctx context.Context) (map[string]SharedBoard, error)
}

// SharedBoard is one stream's pinned overlays as stored.
type SharedBoard struct {
	Version  uint64    `json:"-"`
	NextID   uint64    `json:"next_id"`
	Overlays []Overlay `json:"overlays"`
}

// shareTimeout bounds a save made while a seller waits (the poll retries).
const shareTimeout = 500 * time.Millisecond

// share saves b to the board store; b is locked. When another origin saved
// first, b takes the stored board and redo (the seller's change) is applied
// again on top, once. A store that does not answer leaves b dirty, saved by
// the next sync; if another origin saved meanwhile, the dirty change loses
// to its board (there is no redo then). The save runs under b's lock,
// bounded by shareTimeout: a slow Redis delays that stream's events by at
// most that.
func (h *OriginHub) share(ctx context.Context, b *board, redo func() error) error {
	if h.shared == nil {
		return nil
	}
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shareTimeout)
		ver, ok, cur, err := h.shared.SaveBoard(cctx, b.name, b.sharedVer, SharedBoard{NextID: b.nextID, Overlays: b.overlays})
		cancel()
		switch {
		case err != nil:
			b.sharedDirty = true
			h.sm.errors.Inc()
			h.logger.Warn("overlay board not shared yet (retried each poll)", "stream", b.name, "err", err)
			return nil
		case ok:
			b.sharedVer, b.sharedDirty = ver, false
			h.sm.saves.Inc()
			return nil
		case attempt > 0 || redo == nil:
			h.adopt(b, cur)
			return nil
		}
		h.sm.conflicts.Inc()
		h.adopt(b, cur)
		if err := redo(); err != nil {
			return err
		}
	}
}

// syncShared saves boards a failed save left dirty and takes the boards
// another origin changed.
func (h *OriginHub) syncShared(ctx context.Context) {
	if h.shared == nil {
		return
	}
	for _, b := range h.snapshot() {
		b.mu.Lock()
		if !b.dead && b.sharedDirty {
			_ = h.share(ctx, b, nil)
		}
		h.release(b)
	}
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	boards, err := h.shared.LoadBoards(cctx)
	cancel()
	if err != nil {
		h.sm.errors.Inc()
		h.logger.Warn("overlay boards: load", "err", err)
		if boards == nil {
			return
		}
	}
	for _, stream := range sortedKeys(boards) {
		sb := boards[stream]
		h.trackShared(ctx, stream, sb)
		b := h.lockBoard(stream, len(sb.Overlays) > 0)
		if b == nil {
			continue
		}
		if sb.Version > b.sharedVer && !b.sharedDirty {
			h.adopt(b, sb)
		}
		h.release(b)
	}
}

// trackShared follows the drops of a stored board's product cards, so that
// their state and stock are polled here too.
func (h *OriginHub) trackShared(ctx context.Context, stream string, sb SharedBoard) {
	for _, o := range sb.Overlays {
		if o.Drop == "" {
			continue
		}
		h.tmu.Lock()
		_, known := h.tracked[o.Drop]
		h.tmu.Unlock()
		if known {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		d, err := h.lookup(cctx, o.Drop)
		cancel()
		if err == nil && d.Stream == stream {
			h.track(d)
		}
	}
}

// adopt makes sb b's overlays and tells b's subscribers with a fresh state.
// Cards of drops closed here and countdowns already expired are left out:
// this origin removed them on its own. b is locked.
func (h *OriginHub) adopt(b *board, sb SharedBoard) {
	cutoff := h.now().Add(-h.cfg.CountdownLinger).UnixMilli()
	overlays := make([]Overlay, 0, len(sb.Overlays))
	for _, o := range sb.Overlays {
		if o.Kind == KindCountdown && o.EndsAtMS < cutoff {
			continue
		}
		if o.Drop != "" {
			if st := h.dropState(o.Drop); st == checkout.StateClosed {
				continue
			} else if o.Kind == KindProduct && st != "" {
				o.DropState = st
			}
		}
		if o.Kind == KindProduct {
			if left, ok := h.lastLeft(o.Drop, o.SKU); ok {
				o.StockLeft = left
			}
		}
		overlays = append(overlays, o)
	}
	b.sharedVer = sb.Version
	b.nextID = max(b.nextID, sb.NextID)
	if slices.Equal(overlays, b.overlays) {
		return
	}
	b.overlays = overlays
	for _, o := range overlays {
		if o.Drop != "" {
			b.drops[o.Drop] = true
		}
	}
	b.seq++
	b.touch()
	h.broadcastState(b, time.Now())
	h.sm.adopted.Inc()
}

// lastLeft is the units left of drop/sku as this hub last published them.
func (h *OriginHub) lastLeft(drop, sku string) (int, bool) {
	h.tmu.Lock()
	defer h.tmu.Unlock()
	td := h.tracked[drop]
	if td == nil {
		return 0, false
	}
	left, ok := td.left[sku]
	return left, ok
}
