package origin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// MinPublishKeyLen is the shortest per-stream publish key accepted.
const MinPublishKeyLen = 16

// publishKeys holds each stream's publish key, from the config's
// publish_keys and the control API (create, rotate, revoke), kept in the
// data dir so a rotation survives a restart. A stream without an entry
// is published with publish_password; a revoked stream with nothing.
type publishKeys struct {
	path string

	mu   sync.Mutex
	keys map[string]keyEntry
}

type keyEntry struct {
	Key     string `json:"key,omitempty"`
	Revoked bool   `json:"revoked,omitempty"`
}

// loadPublishKeys reads the data dir's keys over the config's.
func loadPublishKeys(dataDir string, fromConfig map[string]string) (*publishKeys, error) {
	k := &publishKeys{path: filepath.Join(dataDir, "publish_keys.json"), keys: map[string]keyEntry{}}
	for stream, key := range fromConfig {
		k.keys[stream] = keyEntry{Key: key}
	}
	data, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("publish keys: %w", err)
	}
	var saved map[string]keyEntry
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
	return key, k.set(stream, keyEntry{Key: key})
}

// revoke leaves stream with no key that publishes it.
func (k *publishKeys) revoke(stream string) error { return k.set(stream, keyEntry{Revoked: true}) }

func (k *publishKeys) set(stream string, e keyEntry) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	next := make(map[string]keyEntry, len(k.keys)+1)
	for s, v := range k.keys {
		next[s] = v
	}
	next[stream] = e
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
