package giveaway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// changes.go tells who follows a store (the origin's stamper) of each
// giveaway's start and draw, on both stores.

// ChangesChannel is the Redis pub/sub channel every giveaway change is
// published on.
const ChangesChannel = "livedrop:giveaways:changes"

// Change names a giveaway that started or was drawn: read it from the
// store for its picture.
type Change struct {
	ID string `json:"id"`
}

// Follow passes every giveaway change of s to f until ctx ends,
// subscribing again with backoff (100 ms doubling to 5 s) when the
// subscription breaks; lost is told why each time.
func Follow(ctx context.Context, s Store, f func(Change), lost func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.Subscribe(ctx, f)
		if ctx.Err() != nil {
			return
		}
		lost(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Subscribe implements Store: f runs outside the store's lock, on the
// goroutine that made the change.
func (m *MemStore) Subscribe(ctx context.Context, f func(Change)) error {
	m.mu.Lock()
	if m.subs == nil {
		m.subs = map[int]func(Change){}
	}
	id := m.nextSub
	m.nextSub++
	m.subs[id] = f
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	delete(m.subs, id)
	m.mu.Unlock()
	return nil
}

// notify tells m's subscribers of c (m.mu not held).
func (m *MemStore) notify(c Change) {
	m.mu.Lock()
	fs := make([]func(Change), 0, len(m.subs))
	for _, f := range m.subs {
		fs = append(fs, f)
	}
	m.mu.Unlock()
	for _, f := range fs {
		f(c)
	}
}

// publish tells the Redis store's subscribers of c; a lost message only
// delays a card on the stream (viewers' pages read the giveaway too), so
// the caller's change stands whatever it returns.
func (s *RedisStore) publish(ctx context.Context, c Change) error {
	enc, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.rdb.Publish(ctx, ChangesChannel, enc).Err(); err != nil {
		return fmt.Errorf("giveaway: publish change: %w", err)
	}
	return nil
}

// Subscribe implements Store: it listens on ChangesChannel.
func (s *RedisStore) Subscribe(ctx context.Context, f func(Change)) error {
	sub := s.rdb.Subscribe(ctx, ChangesChannel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is live from here
		return fmt.Errorf("giveaway: subscribe: %w", err)
	}
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return fmt.Errorf("giveaway: subscription closed")
			}
			var c Change
			if json.Unmarshal([]byte(msg.Payload), &c) != nil || c.ID == "" {
				continue
			}
			f(c)
		}
	}
}
