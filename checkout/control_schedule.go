package checkout

import (
	"context"
	"time"
)

// The control side's scheduled openings: a drop with opens_at is opened (or
// its lottery started) by the Control's Run loop on time, and a lottery is
// drawn when its window ends. It runs again after a restart: every step is
// rerunnable.

// scheduleTick is how often the schedule is looked at, at most.
const scheduleTick = 100 * time.Millisecond

// scheduled is what the schedule keeps of one drop: its definition (an
// edit before it opens makes the schedule read it again: control_drops.go), and whether it is done with it.
type scheduled struct {
	d    Drop
	done bool
}

// scheduleLoop opens drops on time until ctx ends.
func (c *Control) scheduleLoop(ctx context.Context) {
	t := time.NewTicker(min(c.cfg.ReapInterval, scheduleTick))
	defer t.Stop()
	known := map[string]*scheduled{}
	// While the store does not answer, the loop backs off (doubling up to
	// scheduleMaxBackoff): a tick every 100 ms at a Redis that is down
	// would fill the client's pool with failed dials, and go-redis then
	// fails every call for up to a second after Redis is back.
	skip, backoff := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if skip > 0 {
			skip--
			continue
		}
		if c.scheduleOnce(ctx, known) {
			backoff = 0
			continue
		}
		backoff = min(max(1, 2*backoff), int(scheduleMaxBackoff/scheduleTick))
		skip = backoff
	}
}

// scheduleMaxBackoff bounds the schedule's wait while the store is down.
const scheduleMaxBackoff = 2 * time.Second

// scheduleOnce looks at every drop not yet done with; false when the store
// did not answer.
func (c *Control) scheduleOnce(ctx context.Context, known map[string]*scheduled) bool {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	ids, err := c.store.ListDrops(cctx)
	cancel()
	if err != nil {
		c.logger.Debug("schedule: list drops", "err", err)
		return false
	}
	c.forgetEdited(known) // control_drops.go
	for _, id := range ids {
		sc, ok := known[id]
		if !ok {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
			d, err := c.store.Drop(cctx, id)
			cancel()
			if err != nil {
				continue
			}
			sc = &scheduled{d: d, done: d.OpensAt.IsZero()}
			known[id] = sc
		}
		if sc.done || c.now().Before(sc.d.openTime()) { // members.go: early for members
			continue
		}
		done, err := c.due(ctx, sc.d)
		if err != nil {
			c.logger.Warn("scheduled opening failed; trying again", "drop", id, "err", err)
			continue
		}
		sc.done = done
	}
	return true
}

// due does what a drop whose opens_at passed needs now, and says whether
// nothing is left to do for it.
func (c *Control) due(ctx context.Context, d Drop) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	cur, err := c.store.Drop(cctx, d.ID)
	cancel()
	if err != nil {
		return false, err
	}
	switch cur.State {
	case StateCreated:
		if d.Lottery == nil {
			err := c.setState(ctx, d.ID, StateOpen)
			return err == nil, err
		}
		_, err := c.startLottery(ctx, d.ID)
		return false, err
	case StateDrawing:
		cctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
		info, err := c.store.Lottery(cctx, d.ID)
		cancel()
		if err != nil {
			return false, err
		}
		if c.now().Before(info.StartedAt.Add(time.Duration(info.WindowMs) * time.Millisecond)) {
			return false, nil
		}
		err = c.draw(ctx, cur, info)
		return err == nil, err
	}
	return true, nil // open or closed: opened by hand, or done
}
