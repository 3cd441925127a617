package origin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MinPublishKeyLen is the shortest per-stream publish key accepted.
const MinPublishKeyLen = 16

// publishKeys holds each stream's publish key, from the config's
// publish_keys and the control API (create, rotate, revoke), kept in the
// data dir so a rotation survives a restart, and, with a KeyStore, shared
// with the deployment's other origins (a standby accepts the same keys).
// A stream without an entry is published with publish_password; a revoked
// stream with nothing.
type publishKeys struct {
	path   string
	shared KeyStore // nil: this origin's keys are its own

	mu   sync.Mutex
	keys map[string]PublishKey
}

// PublishKey is one stream's publish key as kept: the key, or revoked.
type PublishKey struct {
	Key     string `json:"key,omitempty"`
	Revoked bool   `json:"revoked,omitempty"`
}

// KeyStore shares publish keys between origins (Redis). The keys are kept
// as they are (RTSP Digest needs them): the store must be as trusted as
// the origins.
type KeyStore interface {
	LoadKeys(ctx context.Context) (map[string]PublishKey, error)
	SaveKey(ctx context.Context, stream string, k PublishKey) error
}

// keySyncInterval is how often an origin reads the shared keys: a key
// rotated on another origin works here within it.
const keySyncInterval = 2 * time.Second

// loadPublishKeys reads the data dir's keys over the config's.
func loadPublishKeys(dataDir string, fromConfig map[string]string) (*publishKeys, error) {
	k := &publishKeys{path: filepath.Join(dataDir, "publish_keys.json"), keys: map[string]PublishKey{}}
	for stream, key := range fromConfig {
		k.keys[stream] = PublishKey{Key: key}
	}
	data, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("publish keys: %w", err)
	}
	var saved map[string]PublishKey
	if err := json.Unmarshal(data, &saved); err != nil {
		return nil, fmt.Errorf("publish keys: %s is damaged: %w", k.path, err)
	}
	for stream, e := range saved {
		k.keys[stream] = e
	}
	return k, nil
}

// password is what stream is published with: its key, or fallback when
// it has none; ok is false when its key is revoked.
func (k *publishKeys) password(stream, fallback string) (pass string, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, has := k.keys[stream]
	switch {
	case !has:
		return fallback, true
	case e.Revoked:
		return "", false
	}
	return e.Key, true
}

// check compares key with what stream is published with, in constant time.
func (k *publishKeys) check(stream, fallback, key string) bool {
	pass, ok := k.password(stream, fallback)
	return ok && pass != "" && subtle.ConstantTimeCompare([]byte(key), []byte(pass)) == 1
}

// rotate gives stream a new random key, replacing (or restoring after a
// revoke) the old one, and keeps it.
func (k *publishKeys) rotate(stream string) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	key := hex.EncodeToString(b[:])
	return key, k.set(stream, PublishKey{Key: key})
}

// revoke leaves stream with no key that publishes it.
func (k *publishKeys) revoke(stream string) error { return k.set(stream, PublishKey{Revoked: true}) }

// set keeps stream's entry: in the shared store first (a rotation that the
// other origins would not see fails), then here.
func (k *publishKeys) set(stream string, e PublishKey) error {
	if k.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := k.shared.SaveKey(ctx, stream, e)
		cancel()
		if err != nil {
			return fmt.Errorf("%w: the shared key store did not take it: %w", errKeysUnshared, err)
		}
	}
	return k.keep(map[string]PublishKey{stream: e})
}

// errKeysUnshared: a key change the other origins would not see is refused.
var errKeysUnshared = errors.New("publish key not changed")

// keep applies changes and writes the data dir's copy.
func (k *publishKeys) keep(changes map[string]PublishKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	next := make(map[string]PublishKey, len(k.keys)+len(changes))
	for s, v := range k.keys {
		next[s] = v
	}
	for stream, e := range changes {
		next[stream] = e
	}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	tmp := k.path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, k.path); err != nil {
		return err
	}
	k.keys = next
	return nil
}

// syncShared takes the shared store's keys over this origin's: the entries
// that differ, so a key rotated or revoked on another origin is the one
// that publishes here too. It reports how many changed.
func (k *publishKeys) syncShared(ctx context.Context) (int, error) {
	if k.shared == nil {
		return 0, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	all, err := k.shared.LoadKeys(cctx) // with an error, the entries that could be read
	cancel()
	if all == nil {
		return 0, err
	}
	changes := map[string]PublishKey{}
	k.mu.Lock()
	for stream, e := range all {
		if k.keys[stream] != e {
			changes[stream] = e
		}
	}
	k.mu.Unlock()
	if len(changes) > 0 {
		err = errors.Join(err, k.keep(changes))
	}
	return len(changes), err
}

// keySync is the origin's service that reads the shared keys, at start and
// every keySyncInterval.
type keySync struct{ o *Origin }

func (keySync) Register(*http.ServeMux) {}

func (s keySync) Run(ctx context.Context) error {
	t := time.NewTicker(keySyncInterval)
	defer t.Stop()
	for {
		if n, err := s.o.keys.syncShared(ctx); err != nil {
			s.o.log.Warn("shared publish keys: read failed (this origin keeps its own until the store answers)", "err", err)
		} else if n > 0 {
			s.o.log.Info("shared publish keys: taken from the store", "streams", n) // never the keys
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
