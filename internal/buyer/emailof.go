package buyer

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The email of an email buyer by id, for order notices (a pickup code):
// guests have none (ErrNotFound).

// EmailOf returns the email of the email buyer buyerID.
func (s *MemStore) EmailOf(_ context.Context, buyerID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[s.byID[buyerID]]
	if !ok {
		return "", fmt.Errorf("buyer store: email of %q: %w", buyerID, ErrNotFound)
	}
	return r.Email, nil
}

// EmailOf returns the email of the email buyer buyerID.
func (s *RedisStore) EmailOf(ctx context.Context, buyerID string) (string, error) {
	ek, err := s.rdb.HGet(ctx, idsKey, buyerID).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("buyer store: email of %q: %w", buyerID, ErrNotFound)
	}
	if err != nil {
		return "", unavailable("email of buyer", err)
	}
	e, err := s.rdb.HGet(ctx, recKeyOf(ek), "email").Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("buyer store: email of %q: %w", buyerID, ErrNotFound)
	}
	if err != nil {
		return "", unavailable("email of buyer", err)
	}
	return e, nil
}
