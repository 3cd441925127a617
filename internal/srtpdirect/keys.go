package srtpdirect

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
)

// KeyCapture collects one DTLS handshake's secrets: pion's key log is
// written to it (Write) and the Server Hello pion sends passes through it
// (ServerHello). A session's peer connection is set up with both hooks.
type KeyCapture struct {
	mu      sync.Mutex
	hello   bool
	server  [32]byte
	suite   dtls.CipherSuiteID
	profile dtls.SRTPProtectionProfile
	client  []byte
	master  []byte
}

// Write takes pion's key log lines: "CLIENT_RANDOM <hex> <hex>".
func (k *KeyCapture) Write(p []byte) (int, error) {
	f := strings.Fields(string(p))
	if len(f) != 3 || f[0] != "CLIENT_RANDOM" {
		return len(p), nil
	}
	client, err1 := hex.DecodeString(f[1])
	master, err2 := hex.DecodeString(f[2])
	if err1 != nil || err2 != nil || len(client) != 32 {
		return len(p), nil
	}
	k.mu.Lock()
	k.client, k.master = client, master
	k.mu.Unlock()
	return len(p), nil
}

// ServerHello records the Server Hello pion sends and returns it
// unchanged (a dtls server hello message hook).
func (k *KeyCapture) ServerHello(m handshake.MessageServerHello) handshake.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.server = m.Random.MarshalFixed()
	k.hello = m.CipherSuiteID != nil
	if m.CipherSuiteID != nil {
		k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	k.profile = 0
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			k.profile = u.ProtectionProfiles[0]
		}
	}
	return &m
}

// prfHash is the PRF hash of the cipher suites pion offers.
func prfHash(id dtls.CipherSuiteID) func() hash.Hash {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8:
		return sha256.New
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384
	}
	return nil
}

var errNoKeys = errors.New("DTLS handshake not captured")

// ExportKeyingMaterial is RFC 5705's exporter for the captured handshake
// (we are the DTLS server).
func (k *KeyCapture) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("exporter context not supported")
	}
	h := prfHash(k.suite)
	if h == nil {
		return nil, fmt.Errorf("cipher suite %#04x: PRF hash unknown", uint16(k.suite))
	}
	seed := make([]byte, 0, len(label)+64)
	seed = append(append(append(seed, label...), k.client...), k.server[:]...)
	return prf.PHash(k.master, seed, length, h)
}

// localKeys exports our SRTP master key and salt and the profile.
func (k *KeyCapture) localKeys() (key, salt []byte, profile srtp.ProtectionProfile, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.hello || k.master == nil || k.profile == 0 {
		return nil, nil, 0, errNoKeys
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(k.profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(k, false); err != nil {
		return nil, nil, 0, err
	}
	return cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile, nil
}
