package overlay

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/money"
)

// StockSource is this edge's view of stock; *checkout.Edge satisfies it.
type StockSource interface {
	// StockLeft returns the units left per SKU of drop.
	StockLeft(drop string) map[string]int
	// OnStock calls fn whenever a SKU's units left change; fn must not block.
	OnStock(fn func(checkout.StockLevel)) (unsubscribe func())
}

// MapTS maps a media timestamp of the upstream's timeline to this edge's
// (the edge rewrites RTP timestamps after an upstream reconnect).
type MapTS func(stream string, ts uint32) uint32

// EdgeParams builds an EdgeHub.
type EdgeParams struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Config     Config
	// Stock is this edge's stock view; nil passes the upstream's through.
	Stock StockSource
	// MapTS maps upstream media_ts to this edge's timeline; nil is identity.
	MapTS MapTS
	// Now is the clock of stock coalescing (default time.Now).
	Now func() time.Time
}

// EdgeHub is the overlay side of an edge: it ingests each stream's events
// from its upstream in order, rewrites what belongs to this region (price
// and currency from the config, stock left as this edge sees it, coalesced
// to stock_updates_per_second per stream), and fans every message out,
// encoded once, to the stream's viewers (whep.EventFeed). Run owns the
// stock subscription and the coalescing timer.
type EdgeHub struct {
	core
	stock StockSource
	mapTS MapTS

	smu   sync.Mutex
	local map[stockKey]int // stock levels from this edge's checkout

	logMu     sync.Mutex
	lastLogAt time.Time
}

// NewEdgeHub checks the parameters and builds an EdgeHub.
func NewEdgeHub(p EdgeParams) (*EdgeHub, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Registerer == nil {
		return nil, errors.New("overlay: edge hub needs a Registerer")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.MapTS == nil {
		p.MapTS = func(_ string, ts uint32) uint32 { return ts }
	}
	m, err := newMetrics(p.Registerer)
	if err != nil {
		return nil, err
	}
	return &EdgeHub{
		core: core{cfg: p.Config, logger: p.Logger.With("component", "overlay-edge"), m: m, now: p.Now,
			boards: map[string]*board{}},
		stock: p.Stock, mapTS: p.MapTS, local: map[stockKey]int{},
	}, nil
}

// Config returns the hub's configuration.
func (h *EdgeHub) Config() Config { return h.cfg }

// Subscribe returns stream's messages for one viewer's data channel, the
// first being its state; cancel ends the subscription and closes the
// channel, as does Run's return (whep.EventFeed). A subscriber that falls
// subscriber_buffer messages behind gets its queue replaced by a fresh state.
func (h *EdgeHub) Subscribe(stream string) (<-chan []byte, func()) {
	return h.subscribe(stream, TransportDataChannel)
}

// SubscribeVia is Subscribe for a given transport (TransportWebSocket).
func (h *EdgeHub) SubscribeVia(stream, transport string) (<-chan []byte, func()) {
	return h.subscribe(stream, transport)
}

// Ingest applies one message of stream's upstream events data channel
// (whep.ClientParams.OnEvent); call it in the order the messages arrive.
// A state message resets the stream (a new upstream session); a show or
// hide the stream has seen already is ignored. A malformed message is
// dropped and returned as an error wrapping ErrInvalid.
func (h *EdgeHub) Ingest(stream string, msg []byte) error {
	start := time.Now()
	if !media.ValidName(stream) {
		return ErrInvalid
	}
	m, err := DecodeMessage(msg)
	if err != nil {
		h.logLimited("upstream overlay message refused", "stream", stream, "err", err)
		return err
	}
	b := h.lockBoard(stream, true)
	if b == nil {
		return ErrClosed
	}
	defer h.release(b)
	switch m.Type {
	case TypeState:
		b.overlays = b.overlays[:0]
		clear(b.drops)
		for _, o := range m.Overlays {
			b.put(h.regional(o))
		}
		b.upSeq, b.upKnown = m.Seq, true
		b.seq++
		b.touch()
		h.broadcastState(b, start)
	case TypeShow, TypeHide:
		if b.upKnown && m.Seq <= b.upSeq {
			return nil // seen already (an old session's late message)
		}
		if b.upKnown && m.Seq != b.upSeq+1 {
			h.logLimited("upstream overlay sequence gap", "stream", stream, "after", b.upSeq, "got", m.Seq)
		}
		b.upSeq, b.upKnown = m.Seq, true
		var ts uint32
		if m.MediaTS != nil {
			ts = h.mapTS(stream, *m.MediaTS)
		}
		b.seq++
		if m.Type == TypeShow {
			o := h.regional(*m.Overlay)
			if b.index(o.ID) < 0 && len(b.overlays) >= MaxStateOverlays {
				b.seq--
				return ErrConflict
			}
			b.put(o)
			h.publish(b, TypeShow, encodeShow(b.seq, ts, m.MediaTS != nil, &o), start)
		} else {
			b.remove(m.ID)
			h.publish(b, TypeHide, encodeHide(b.seq, ts, m.MediaTS != nil, m.ID), start)
		}
	case TypeStock:
		k := stockKey{m.Drop, m.SKU}
		b.drops[m.Drop] = true
		if _, mine := h.localStock(k); mine {
			return nil // this edge's own view wins
		}
		b.setStock(k, *m.Left)
		b.pending[k] = *m.Left
		h.flushStock(b, h.now())
	case TypeDrop:
		b.drops[m.Drop] = true
		for i := range b.overlays {
			if o := &b.overlays[i]; o.Kind == KindProduct && o.Drop == m.Drop {
				o.DropState = m.State
				b.touch()
			}
		}
		if m.State == checkout.StateClosed {
			kept := b.overlays[:0]
			for _, o := range b.overlays {
				if o.Drop != m.Drop {
					kept = append(kept, o)
				}
			}
			clear(b.overlays[len(kept):])
			b.overlays = kept
			b.touch()
		}
		h.publish(b, TypeDrop, encodeDrop(m.Drop, m.State), start)
	case TypeLot:
		h.ingestPicture(b, TypeLot, m.MediaTS, m.Lot, start) // picture.go
	case TypeGiveaway:
		h.ingestPicture(b, TypeGiveaway, m.MediaTS, m.Giveaway, start) // picture.go
	}
	return nil
}

// Forget drops what the edge knows of stream once its upstream is closed
// for good (not on a reconnect: the new session's state replaces it then).
// Remaining subscribers get an empty state.
func (h *EdgeHub) Forget(stream string) {
	b := h.lockBoard(stream, false)
	if b == nil {
		return
	}
	defer h.release(b)
	b.overlays = b.overlays[:0]
	clear(b.pending)
	clear(b.drops)
	b.upSeq, b.upKnown = 0, false
	if len(b.subs) > 0 {
		b.seq++
		b.touch()
		h.broadcastState(b, time.Now())
	}
}

// Run follows this edge's stock and flushes coalesced stock messages until
// ctx ends, then closes every subscription.
func (h *EdgeHub) Run(ctx context.Context) error {
	defer h.shutdown()
	if h.stock != nil {
		unsubscribe := h.stock.OnStock(h.onStock)
		defer unsubscribe()
	}
	t := time.NewTicker(max(h.cfg.stockInterval()/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			now := h.now()
			for _, b := range h.snapshot() {
				b.mu.Lock()
				if !b.dead {
					h.flushStock(b, now)
				}
				b.mu.Unlock()
			}
		}
	}
}

// onStock takes one stock level from this edge's checkout.
func (h *EdgeHub) onStock(l checkout.StockLevel) {
	k := stockKey{l.Drop, l.SKU}
	h.smu.Lock()
	h.local[k] = l.Left
	h.smu.Unlock()
	now := h.now()
	for _, b := range h.snapshot() {
		b.mu.Lock()
		if !b.dead && b.drops[l.Drop] {
			b.setStock(k, l.Left)
			b.pending[k] = l.Left
			h.flushStock(b, now)
		}
		b.mu.Unlock()
	}
}

// localStock returns this edge's view of k, if it has one.
func (h *EdgeHub) localStock(k stockKey) (int, bool) {
	h.smu.Lock()
	v, ok := h.local[k]
	h.smu.Unlock()
	if ok || h.stock == nil {
		return v, ok
	}
	v, ok = h.stock.StockLeft(k.drop)[k.sku]
	return v, ok
}

// regional rewrites an upstream overlay for this region: price and
// currency from the config, stock left from this edge's view.
func (h *EdgeHub) regional(o Overlay) Overlay {
	if o.Kind != KindProduct {
		return o
	}
	if p, ok := h.regionalPrice(o); ok { // regional_price.go: the seller's price for this region
		o = p
	} else if cur := h.cfg.Currency; cur != "" && o.Currency != cur {
		if rate, ok := h.cfg.Rates[o.Currency]; ok {
			o.PriceCents = int64(min(money.Convert(o.PriceCents, o.Currency, cur, rate), float64(checkout.MaxPriceCent)))
			if o.MemberPriceCents != 0 {
				o.MemberPriceCents = int64(min(money.Convert(o.MemberPriceCents, o.Currency, cur, rate), float64(checkout.MaxPriceCent)))
			}
			o.Currency = cur
		}
	}
	if left, ok := h.localStock(stockKey{o.Drop, o.SKU}); ok {
		o.StockLeft = max(0, left)
	}
	return o
}

// logLimited logs at most once per second: a broken upstream must not
// flood the log.
func (h *EdgeHub) logLimited(msg string, args ...any) {
	h.logMu.Lock()
	now := time.Now()
	ok := now.Sub(h.lastLogAt) >= time.Second
	if ok {
		h.lastLogAt = now
	}
	h.logMu.Unlock()
	if ok {
		h.logger.Warn(msg, args...)
	}
}
