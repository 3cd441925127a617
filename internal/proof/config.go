package proof

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the proofs at an edge (the proof: block of its config).
type Config struct {
	// WatchProofTTL is how long a watch proof stays valid; the page
	// refreshes it every few seconds.
	WatchProofTTL time.Duration `yaml:"watch_proof_ttl"`
	// ChallengeTTL is how long a proof-of-work challenge may be solved and
	// used; spent challenges are remembered this long.
	ChallengeTTL time.Duration `yaml:"challenge_ttl"`
	// PoWBaseBits is the puzzle's difficulty (leading zero bits) while the
	// order rate is at most PoWKneePerSecond; each doubling above it adds a
	// bit, up to PoWMaxBits.
	PoWBaseBits      int     `yaml:"pow_base_bits"`
	PoWMaxBits       int     `yaml:"pow_max_bits"`
	PoWKneePerSecond float64 `yaml:"pow_knee_per_second"`
	// ReplayCapacity bounds the spent challenges remembered; when full,
	// orders are asked to try again in a moment.
	ReplayCapacity int `yaml:"replay_capacity"`
}

// Defaults: 2^16 hashes at rest, 2^19 at most, the first extra bit above
// 50 gated orders/s at this edge. The page's worker tries about 3 million
// hashes/s in Chromium on a desktop core (a phone: a third to a fifth of
// that), so 2^19 (half a million tries expected) takes a phone under ~1 s
// and 2^16 tens of ms.
func Defaults() Config {
	return Config{WatchProofTTL: 30 * time.Second, ChallengeTTL: 2 * time.Minute,
		PoWBaseBits: 16, PoWMaxBits: 19, PoWKneePerSecond: 50, ReplayCapacity: 1_000_000}
}

// Validate checks the block; errors name the key under proof.
func (c *Config) Validate() error {
	switch {
	case c.WatchProofTTL < time.Second || c.WatchProofTTL > 10*time.Minute:
		return errors.New("proof.watch_proof_ttl: must be between 1s and 10m")
	case c.ChallengeTTL < 5*time.Second || c.ChallengeTTL > time.Hour:
		return errors.New("proof.challenge_ttl: must be between 5s and 1h")
	case c.PoWBaseBits < 1 || c.PoWBaseBits > HardMaxBits:
		return fmt.Errorf("proof.pow_base_bits: must be between 1 and %d", HardMaxBits)
	case c.PoWMaxBits < c.PoWBaseBits || c.PoWMaxBits > HardMaxBits:
		return fmt.Errorf("proof.pow_max_bits: must be between pow_base_bits and %d", HardMaxBits)
	case c.PoWKneePerSecond <= 0:
		return errors.New("proof.pow_knee_per_second: must be > 0")
	case c.ReplayCapacity < 1000 || c.ReplayCapacity > 100_000_000:
		return errors.New("proof.replay_capacity: must be between 1000 and 100000000")
	}
	return nil
}
