package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/media"
)

// DropSource reads drops and their live totals; checkout.Store satisfies it.
type DropSource interface {
	Drop(ctx context.Context, id string) (checkout.Drop, error)
	Totals(ctx context.Context, id string) (checkout.Totals, error)
}

// MediaClock returns the RTP timestamp of the last video packet the origin
// forwarded on stream; ok is false before the stream's first video packet.
type MediaClock func(stream string) (ts uint32, ok bool)

// OriginParams builds an OriginHub.
type OriginParams struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Config     Config
	// Drops looks up drops for pins and their state and stock (required).
	Drops DropSource
	// MediaClock stamps events with media time (required).
	MediaClock MediaClock
	// Now is the wall clock of countdowns (default time.Now).
	Now func() time.Time
	// Boards, when set, shares the pinned overlays with the other origins
	// of the deployment (a standby, or this one restarted).
	Boards BoardStore
}

// OriginHub holds each stream's active overlays at the origin: the seller
// pins products and countdowns, each event numbered and stamped with the
// media clock, and follows the state and stock of the drops it shows.
// It is the event feed edges subscribe to (whep.EventFeed). Create it with
// NewOriginHub; Run polls the drops and expires countdowns.
type OriginHub struct {
	core
	drops  DropSource
	clock  MediaClock
	notes  chan dropNote
	shared BoardStore
	sm     *sharedMetrics

	tmu     sync.Mutex
	tracked map[string]*trackedDrop // by drop id
}

type dropNote struct{ drop, state string }

// trackedDrop is a drop the hub follows: one it showed or was told about.
type trackedDrop struct {
	stream string
	state  string
	left   map[string]int // by SKU, as last published
}

// storeTimeout bounds one store call of the poll.
const storeTimeout = 2 * time.Second

// NewOriginHub checks the parameters and builds an OriginHub.
func NewOriginHub(p OriginParams) (*OriginHub, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Drops == nil || p.MediaClock == nil || p.Registerer == nil {
		return nil, errors.New("overlay: origin hub needs Drops, MediaClock and Registerer")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	m, err := newMetrics(p.Registerer)
	if err != nil {
		return nil, err
	}
	sm, err := newSharedMetrics(p.Registerer)
	if err != nil {
		return nil, err
	}
	return &OriginHub{
		core: core{cfg: p.Config, logger: p.Logger.With("component", "overlay-origin"), m: m, now: p.Now,
			boards: map[string]*board{}},
		drops: p.Drops, clock: p.MediaClock, shared: p.Boards, sm: sm,
		notes:   make(chan dropNote, 64),
		tracked: map[string]*trackedDrop{},
	}, nil
}

// Config returns the hub's configuration.
func (h *OriginHub) Config() Config { return h.cfg }

// Subscribe returns stream's messages for one edge's data channel, the
// first being its state; cancel ends the subscription and closes the
// channel, as does Run's return (whep.EventFeed). A subscriber that falls
// subscriber_buffer messages behind gets its queue replaced by a fresh state.
func (h *OriginHub) Subscribe(stream string) (<-chan []byte, func()) {
	return h.subscribe(stream, TransportDataChannel)
}

// SubscribeVia is Subscribe for a given transport (TransportWebSocket).
func (h *OriginHub) SubscribeVia(stream, transport string) (<-chan []byte, func()) {
	return h.subscribe(stream, transport)
}

// Show pins a product or starts a countdown on stream and returns the
// overlay. Pinning a product already shown replaces it (same id). Errors:
// ErrInvalid (bad request, drop of another stream), ErrNotFound (drop or
// SKU), ErrConflict (drop closed, too many overlays), ErrUnavailable.
func (h *OriginHub) Show(ctx context.Context, stream string, req Request) (Overlay, error) {
	start := time.Now()
	if !media.ValidName(stream) {
		return Overlay{}, fmt.Errorf("%w: stream must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
	}
	if err := req.Validate(); err != nil {
		return Overlay{}, err
	}
	var d checkout.Drop
	var o Overlay
	if req.Drop != "" {
		var err error
		if d, err = h.lookup(ctx, req.Drop); err != nil {
			return Overlay{}, err
		}
		if d.Stream != stream {
			return Overlay{}, fmt.Errorf("%w: drop %q belongs to stream %q", ErrInvalid, d.ID, d.Stream)
		}
		if d.State == checkout.StateClosed {
			return Overlay{}, fmt.Errorf("%w: drop %q is closed", ErrConflict, d.ID)
		}
	}
	switch req.Type {
	case KindProduct:
		k, ok := d.SKU(req.SKU)
		if !ok {
			return Overlay{}, fmt.Errorf("%w: sku %q is not in drop %q", ErrNotFound, req.SKU, d.ID)
		}
		o = Overlay{Kind: KindProduct, Drop: d.ID, SKU: k.SKU, Name: k.Name, PriceCents: k.PriceCents,
			Currency: k.Currency, StockLeft: h.stockLeft(ctx, d.ID, k), DropState: d.State, MemberPriceCents: k.MemberPriceCents}
		if until := d.MembersUntil(); !until.IsZero() {
			o.MembersUntilMS = until.UnixMilli()
		}
	case KindCountdown:
		o = Overlay{Kind: KindCountdown, Drop: req.Drop, Label: req.Label,
			EndsAtMS: h.now().Add(time.Duration(req.Seconds) * time.Second).UnixMilli()}
	}
	if d.ID != "" {
		h.track(d)
	}

	b := h.lockBoard(stream, true)
	if b == nil {
		return Overlay{}, ErrClosed
	}
	defer h.release(b)
	if d.ID != "" && h.dropState(d.ID) == checkout.StateClosed {
		return Overlay{}, fmt.Errorf("%w: drop %q is closed", ErrConflict, d.ID)
	}
	pin := func() error {
		if o.Kind == KindProduct {
			for _, x := range b.overlays {
				if x.Kind == KindProduct && x.Drop == o.Drop && x.SKU == o.SKU {
					o.ID = x.ID
				}
			}
		}
		if o.ID == "" {
			if len(b.overlays) >= h.cfg.MaxOverlays {
				return fmt.Errorf("%w: stream %q already shows %d overlays (overlay.max_overlays)", ErrConflict, stream, len(b.overlays))
			}
			b.nextID++
			o.ID = "ov-" + strconv.FormatUint(b.nextID, 10)
		}
		b.put(o)
		b.seq++
		ts, ok := h.clock(stream)
		h.publish(b, TypeShow, encodeShow(b.seq, ts, ok, &o), start)
		return nil
	}
	if err := pin(); err != nil {
		return Overlay{}, err
	}
	// Another origin's change wins the race; this pin is made again on top
	// of it (a new id if its own was taken).
	if err := h.share(ctx, b, func() error { o.ID = ""; return pin() }); err != nil {
		return Overlay{}, err
	}
	return o, nil
}

// Hide removes overlay id from stream (ErrNotFound when it is not shown).
func (h *OriginHub) Hide(stream, id string) error {
	start := time.Now()
	b := h.lockBoard(stream, false)
	if b == nil {
		return fmt.Errorf("%w: overlay %q on stream %q", ErrNotFound, id, stream)
	}
	defer h.release(b)
	unpin := func() error {
		if !b.remove(id) {
			return fmt.Errorf("%w: overlay %q on stream %q", ErrNotFound, id, stream)
		}
		h.hideLocked(b, id, start)
		return nil
	}
	if err := unpin(); err != nil {
		return err
	}
	return h.share(context.Background(), b, unpin)
}

func (h *OriginHub) hideLocked(b *board, id string, start time.Time) {
	b.seq++
	ts, ok := h.clock(b.name)
	h.publish(b, TypeHide, encodeHide(b.seq, ts, ok, id), start)
}

// List returns stream's active overlays in the order they were shown.
func (h *OriginHub) List(stream string) []Overlay {
	b := h.lockBoard(stream, false)
	if b == nil {
		return []Overlay{}
	}
	defer h.release(b)
	return append([]Overlay{}, b.overlays...)
}

// NotifyDropState tells the hub that drop moved to state (open or closed),
// so viewers learn it at once; the poll finds it anyway within
// poll_interval. It never blocks.
func (h *OriginHub) NotifyDropState(drop, state string) {
	select {
	case h.notes <- dropNote{drop, state}:
	default:
	}
}

// Run follows drop state and stock and expires countdowns until ctx ends,
// then closes every subscription.
func (h *OriginHub) Run(ctx context.Context) error {
	defer h.shutdown()
	h.syncShared(ctx) // the pins other origins (or this one, before a restart) made
	t := time.NewTicker(h.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-h.notes:
			h.note(ctx, n)
		case <-t.C:
			h.syncShared(ctx)
			h.poll(ctx)
			h.expire()
		}
	}
}

func (h *OriginHub) lookup(ctx context.Context, id string) (checkout.Drop, error) {
	d, err := h.drops.Drop(ctx, id)
	switch {
	case err == nil:
		return d, nil
	case checkout.ClassOf(err) == checkout.ClassNotFound:
		return checkout.Drop{}, fmt.Errorf("%w: drop %q", ErrNotFound, id)
	case checkout.ClassOf(err) == checkout.ClassInvalid:
		return checkout.Drop{}, fmt.Errorf("%w: drop %q: %w", ErrInvalid, id, err)
	}
	return checkout.Drop{}, fmt.Errorf("%w: drop %q: %w", ErrUnavailable, id, err)
}

// stockLeft reads the units of k left across all edges (free plus held in
// leases), or its full stock when the totals cannot be read.
func (h *OriginHub) stockLeft(ctx context.Context, drop string, k checkout.SKU) int {
	t, err := h.drops.Totals(ctx, drop)
	if err != nil {
		return k.Stock
	}
	for _, s := range t.SKUs {
		if s.SKU == k.SKU {
			return max(0, s.Free+s.HeldAtEdges)
		}
	}
	return k.Stock
}

func (h *OriginHub) track(d checkout.Drop) {
	h.tmu.Lock()
	td := h.tracked[d.ID]
	if td == nil {
		h.tracked[d.ID] = &trackedDrop{stream: d.Stream, state: d.State, left: map[string]int{}}
	}
	h.tmu.Unlock()
	if td != nil {
		h.setDropState(d.ID, d.State)
	}
}

func (h *OriginHub) dropState(drop string) string {
	h.tmu.Lock()
	defer h.tmu.Unlock()
	if td := h.tracked[drop]; td != nil {
		return td.state
	}
	return ""
}

func (h *OriginHub) note(ctx context.Context, n dropNote) {
	h.tmu.Lock()
	_, known := h.tracked[n.drop]
	h.tmu.Unlock()
	if !known {
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		d, err := h.lookup(cctx, n.drop)
		cancel()
		if err != nil {
			h.logger.Debug("drop state notice: lookup", "drop", n.drop, "err", err)
			return
		}
		h.track(d)
	}
	h.setDropState(n.drop, n.state)
}

// poll reads the state and stock of every followed drop that is not closed.
func (h *OriginHub) poll(ctx context.Context) {
	h.tmu.Lock()
	ids := make([]string, 0, len(h.tracked))
	for id, td := range h.tracked {
		if td.state != checkout.StateClosed {
			ids = append(ids, id)
		}
	}
	h.tmu.Unlock()
	for _, id := range ids {
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		t, err := h.drops.Totals(cctx, id)
		cancel()
		if err != nil {
			if checkout.ClassOf(err) == checkout.ClassNotFound {
				h.tmu.Lock()
				delete(h.tracked, id)
				h.tmu.Unlock()
			}
			h.logger.Debug("drop poll", "drop", id, "err", err)
			continue
		}
		h.setStock(id, t.SKUs)
		h.setDropState(id, t.State)
	}
}

// setStock publishes the SKUs of drop whose units left changed.
func (h *OriginHub) setStock(drop string, skus []checkout.SKUTotals) {
	start := time.Now()
	h.tmu.Lock()
	td := h.tracked[drop]
	if td == nil {
		h.tmu.Unlock()
		return
	}
	stream := td.stream
	changed := map[string]int{}
	first := map[string]bool{}
	for _, s := range skus {
		left := max(0, s.Free+s.HeldAtEdges)
		if old, ok := td.left[s.SKU]; !ok || old != left {
			td.left[s.SKU] = left
			changed[s.SKU] = left
			first[s.SKU] = !ok
		}
	}
	h.tmu.Unlock()
	if len(changed) == 0 {
		return
	}
	b := h.lockBoard(stream, false)
	if b == nil {
		return
	}
	defer h.release(b)
	for _, sku := range sortedKeys(changed) {
		k, left := stockKey{drop, sku}, changed[sku]
		// The first reading of a SKU is news only where a card shows
		// another number.
		if first[sku] && !slices.ContainsFunc(b.overlays, func(o Overlay) bool {
			return o.Kind == KindProduct && o.Drop == drop && o.SKU == sku && o.StockLeft != left
		}) {
			continue
		}
		b.setStock(k, left)
		h.publish(b, TypeStock, encodeStock(drop, sku, left), start)
	}
}

// setDropState records drop's state; on a change to open or closed it tells
// the stream's subscribers, and a closed drop's overlays are removed.
func (h *OriginHub) setDropState(drop, state string) {
	start := time.Now()
	h.tmu.Lock()
	td := h.tracked[drop]
	if td == nil || td.state == state || !validDropState(state) || state == "" {
		h.tmu.Unlock()
		return
	}
	td.state = state
	stream := td.stream
	h.tmu.Unlock()
	h.logger.Info("drop state", "drop", drop, "state", state, "stream", stream)

	b := h.lockBoard(stream, false)
	if b == nil {
		return
	}
	defer h.release(b)
	for i := range b.overlays {
		if o := &b.overlays[i]; o.Kind == KindProduct && o.Drop == drop {
			o.DropState = state
			b.touch()
		}
	}
	if state != checkout.StateOpen && state != checkout.StateClosed && state != checkout.StateDrawing {
		return
	}
	h.publish(b, TypeDrop, encodeDrop(drop, state), start)
	if state == checkout.StateClosed {
		var ids []string
		for _, o := range b.overlays {
			if o.Drop == drop {
				ids = append(ids, o.ID)
			}
		}
		for _, id := range ids {
			b.remove(id)
			h.hideLocked(b, id, start)
		}
	}
}

// expire removes countdowns that ended more than countdown_linger ago.
func (h *OriginHub) expire() {
	cutoff := h.now().Add(-h.cfg.CountdownLinger).UnixMilli()
	for _, b := range h.snapshot() {
		b.mu.Lock()
		if b.dead {
			b.mu.Unlock()
			continue
		}
		var ids []string
		for _, o := range b.overlays {
			if o.Kind == KindCountdown && o.EndsAtMS < cutoff {
				ids = append(ids, o.ID)
			}
		}
		start := time.Now()
		for _, id := range ids {
			b.remove(id)
			h.hideLocked(b, id, start)
		}
		h.release(b)
	}
}
