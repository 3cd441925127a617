package proof

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"
)

// Token purposes: each derives its own keys from the node secrets, so a
// watch proof never verifies as a challenge nor the other way round.
const (
	purposeWatch = "livedrop watch proof key"
	purposePoW   = "livedrop pow challenge key"
)

// key is one HMAC key with its id (the first bytes of its hash, carried in
// each token so a verifier tries one key, not all) and a pool of MACs.
type key struct {
	id   [4]byte
	macs sync.Pool
}

func newKey(secret []byte) *key {
	k := &key{}
	sum := sha256.Sum256(secret)
	copy(k.id[:], sum[:4])
	k.macs.New = func() any { return hmac.New(sha256.New, secret) }
	return k
}

// sum writes the truncated MAC of msg into out.
func (k *key) sum(msg []byte, out *[macLen]byte) {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(msg)
	var full [sha256.Size]byte
	copy(out[:], m.Sum(full[:0]))
	k.macs.Put(m)
}

// keyring signs with its first key and verifies with any.
type keyring struct {
	keys []*key
}

// deriveKeys derives a keyring of purpose from the node secrets.
func deriveKeys(purpose string, secrets []string) (keyring, error) {
	if len(secrets) == 0 {
		return keyring{}, errors.New("proof keys: no node secret")
	}
	r := keyring{}
	for _, s := range secrets {
		if len(s) < 16 {
			return keyring{}, errors.New("proof keys: a node secret must be at least 16 characters")
		}
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(purpose))
		r.keys = append(r.keys, newKey(m.Sum(nil)))
	}
	return r, nil
}

func (r keyring) signer() *key { return r.keys[0] }

func (r keyring) byID(id []byte) *key {
	for _, k := range r.keys {
		if string(k.id[:]) == string(id) {
			return k
		}
	}
	return nil
}
