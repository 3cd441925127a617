package overlay

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/media"
)

// sub is one subscriber's bounded queue.
type sub struct {
	ch        chan []byte
	transport string
	gone      bool // cancelled or closed; guarded by the board's mu
}

type stockKey struct{ drop, sku string }

// board is one stream's overlays and subscribers at a node. Everything is
// guarded by mu: events are applied, numbered and enqueued under it, so
// every subscriber sees them in the same order, and a new subscriber's
// state and the events after it never overlap or miss one.
type board struct {
	name string

	mu     sync.Mutex
	dead   bool // removed from the hub; look it up again
	seq    uint64
	nextID uint64 // origin: overlay ids
	// Origin with a BoardStore: the stored version this board holds, and
	// whether a change of its own is not stored yet.
	sharedVer   uint64
	sharedDirty bool
	overlays    []Overlay
	subs        []*sub
	state       []byte // encoded state at seq; nil when stale

	// Stock coalescing.
	pending   map[stockKey]int
	lastStock time.Time

	// Edge: the upstream's sequence, and the drops this stream refers to.
	upSeq   uint64
	upKnown bool
	drops   map[string]bool
}

func (b *board) touch() { b.state = nil }

func (b *board) stateMsg() []byte {
	if b.state == nil {
		b.state = encodeState(b.seq, b.overlays)
	}
	return b.state
}

func (b *board) index(id string) int {
	return slices.IndexFunc(b.overlays, func(o Overlay) bool { return o.ID == id })
}

// put shows o, replacing the overlay with its id in place.
func (b *board) put(o Overlay) {
	if i := b.index(o.ID); i >= 0 {
		b.overlays[i] = o
	} else {
		b.overlays = append(b.overlays, o)
	}
	if o.Drop != "" {
		b.drops[o.Drop] = true
	}
	b.touch()
}

func (b *board) remove(id string) bool {
	i := b.index(id)
	if i < 0 {
		return false
	}
	b.overlays = slices.Delete(b.overlays, i, i+1)
	b.touch()
	return true
}

// setStock updates stock_left of the product overlays of drop/sku.
func (b *board) setStock(k stockKey, left int) {
	for i := range b.overlays {
		o := &b.overlays[i]
		if o.Kind == KindProduct && o.Drop == k.drop && o.SKU == k.sku && o.StockLeft != left {
			o.StockLeft = left
			b.touch()
		}
	}
}

func (b *board) idle() bool {
	return len(b.subs) == 0 && len(b.overlays) == 0 && len(b.pending) == 0 && !b.upKnown
}

// core is what both hubs share: the boards, subscriptions and fan-out.
type core struct {
	cfg    Config
	logger *slog.Logger
	m      *metrics
	now    func() time.Time

	mu     sync.Mutex
	boards map[string]*board
	closed bool
}

// lockBoard returns the stream's board, locked, creating it if asked; nil
// when it does not exist (and create is false) or the hub has stopped.
func (c *core) lockBoard(stream string, create bool) *board {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil
		}
		b := c.boards[stream]
		if b == nil {
			if !create {
				c.mu.Unlock()
				return nil
			}
			b = &board{name: stream, pending: map[stockKey]int{}, drops: map[string]bool{}}
			c.boards[stream] = b
		}
		c.mu.Unlock()
		b.mu.Lock()
		if !b.dead {
			return b
		}
		b.mu.Unlock()
	}
}

// release unlocks b and forgets it when nothing refers to it any more.
func (c *core) release(b *board) {
	idle := b.idle()
	b.mu.Unlock()
	if !idle {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.dead && b.idle() && c.boards[b.name] == b {
		b.dead = true
		delete(c.boards, b.name)
	}
}

// snapshot returns the current boards.
func (c *core) snapshot() []*board {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*board, 0, len(c.boards))
	for _, b := range c.boards {
		out = append(out, b)
	}
	return out
}

// subscribe adds a subscriber to stream whose first message is the current
// state. The queue is bounded; publish never blocks on it. Cancelling closes
// the channel.
func (c *core) subscribe(stream, transport string) (<-chan []byte, func()) {
	g, ok := c.m.subscribers[transport]
	if !ok {
		transport, g = TransportDataChannel, c.m.subscribers[TransportDataChannel]
	}
	if !media.ValidName(stream) {
		ch := make(chan []byte)
		close(ch)
		return ch, func() {}
	}
	b := c.lockBoard(stream, true)
	if b == nil {
		ch := make(chan []byte)
		close(ch)
		return ch, func() {}
	}
	s := &sub{ch: make(chan []byte, c.cfg.SubscriberBuffer), transport: transport}
	s.ch <- b.stateMsg()
	b.subs = append(b.subs, s)
	g.Inc()
	b.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			if !s.gone {
				s.gone = true
				b.subs = slices.DeleteFunc(b.subs, func(x *sub) bool { return x == s })
				close(s.ch)
				g.Dec()
			}
			c.release(b)
		})
	}
}

// publish enqueues msg on every subscriber of b (locked). A full queue is
// emptied and given the current state instead: that subscriber resyncs,
// nobody waits. start is when the event was made or arrived.
func (c *core) publish(b *board, typ string, msg []byte, start time.Time) {
	for _, s := range b.subs {
		select {
		case s.ch <- msg:
		default:
			c.resync(b, s)
		}
	}
	c.m.events[typ].Inc()
	c.m.fanout.Observe(time.Since(start).Seconds())
}

// broadcastState sends the current state to every subscriber, as the next
// message of the stream (after a reset).
func (c *core) broadcastState(b *board, start time.Time) {
	c.publish(b, TypeState, b.stateMsg(), start)
}

func (c *core) resync(b *board, s *sub) {
	for {
		select {
		case <-s.ch:
			continue
		default:
		}
		break
	}
	// Only publishers send, and they hold b.mu: there is room now.
	s.ch <- b.stateMsg()
	c.m.resyncs.Inc()
}

// flushStock publishes b's pending stock levels (b locked) if the last
// flush is at least one interval ago: at most stock_updates_per_second
// flushes per stream, each SKU's latest value only.
func (c *core) flushStock(b *board, now time.Time) {
	if len(b.pending) == 0 || now.Sub(b.lastStock) < c.cfg.stockInterval() {
		return
	}
	start := time.Now()
	for k, left := range b.pending {
		c.publish(b, TypeStock, encodeStock(k.drop, k.sku, left), start)
		delete(b.pending, k)
	}
	b.lastStock = now
}

// shutdown closes every subscriber's queue; later subscriptions get a
// closed channel.
func (c *core) shutdown() {
	c.mu.Lock()
	c.closed = true
	boards := make([]*board, 0, len(c.boards))
	for _, b := range c.boards {
		boards = append(boards, b)
	}
	c.mu.Unlock()
	for _, b := range boards {
		b.mu.Lock()
		for _, s := range b.subs {
			s.gone = true
			close(s.ch)
			c.m.subscribers[s.transport].Dec()
		}
		b.subs = nil
		b.mu.Unlock()
	}
}
