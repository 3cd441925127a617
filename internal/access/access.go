// Package access decides who may open a WHEP session on a node: other
// livedrop nodes by a token signed with the shared node secret, viewers by
// their stream's playback policy (open, or a signed playback token).
package access

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/media"
)

// Who may watch a stream.
const (
	// Public lets anyone watch.
	Public = "public"
	// Token lets viewers with a valid playback token watch.
	Token = "token"
	// Nodes lets only other livedrop nodes (edges) pull.
	Nodes = "nodes"
)

// MinSecretLen is the shortest node secret or playback key accepted.
const MinSecretLen = 16

// NodeAudience is the audience of node tokens. Playback tokens need no
// audience: their issuers are the seller's systems.
const NodeAudience = "livedrop-node"

// nodeTokenTTL bounds a node token: it is minted for each pull.
const nodeTokenTTL = 2 * time.Minute

// Config is a node's access configuration (the access: block).
type Config struct {
	// NodeSecrets are shared by the origin and its edges. The first signs
	// the tokens this node presents upstream; every one is accepted from
	// nodes downstream, so a secret is rotated by adding the new one
	// second, moving it first on every node, then removing the old one.
	NodeSecrets []string `yaml:"node_secrets"`
	// Viewers is the policy of streams not listed in Streams: public,
	// token or nodes.
	Viewers string `yaml:"viewers"`
	// Streams overrides the policy per stream name.
	Streams map[string]string `yaml:"streams"`
	// PlaybackKeys verify HS256 playback tokens.
	PlaybackKeys []string `yaml:"playback_keys"`
	// PlaybackPublicKeys verify EdDSA (Ed25519) playback tokens: each is a
	// base64 (standard or URL) 32-byte public key.
	PlaybackPublicKeys []string `yaml:"playback_public_keys"`
}

// Defaults returns an access block with the given viewer policy and no
// secrets (a node refuses to start until its node secret is set).
func Defaults(viewers string) Config {
	return Config{NodeSecrets: []string{}, Viewers: viewers, Streams: map[string]string{},
		PlaybackKeys: []string{}, PlaybackPublicKeys: []string{}}
}

// Validate checks the block; errors name the key under access.
func (c *Config) Validate() error {
	for i, s := range c.NodeSecrets {
		if len(s) < MinSecretLen {
			return fmt.Errorf("access.node_secrets[%d]: must be at least %d characters", i, MinSecretLen)
		}
	}
	if err := validPolicy(c.Viewers); err != nil {
		return fmt.Errorf("access.viewers: %w", err)
	}
	for name, p := range c.Streams {
		if !media.ValidName(name) {
			return fmt.Errorf("access.streams: %q must match %s", name, media.NamePattern)
		}
		if err := validPolicy(p); err != nil {
			return fmt.Errorf("access.streams.%s: %w", name, err)
		}
	}
	for i, k := range c.PlaybackKeys {
		if len(k) < MinSecretLen {
			return fmt.Errorf("access.playback_keys[%d]: must be at least %d characters", i, MinSecretLen)
		}
	}
	for i, k := range c.PlaybackPublicKeys {
		if _, err := parsePublicKey(k); err != nil {
			return fmt.Errorf("access.playback_public_keys[%d]: %w", i, err)
		}
	}
	if c.usesTokens() && len(c.PlaybackKeys)+len(c.PlaybackPublicKeys) == 0 {
		return errors.New("access.playback_keys: a stream needs playback tokens but no key verifies them (set playback_keys or playback_public_keys)")
	}
	return nil
}

func (c *Config) usesTokens() bool {
	if c.Viewers == Token {
		return true
	}
	for _, p := range c.Streams {
		if p == Token {
			return true
		}
	}
	return false
}

func validPolicy(p string) error {
	switch p {
	case Public, Token, Nodes:
		return nil
	}
	return fmt.Errorf("%q is not public, token or nodes", p)
}

func parsePublicKey(s string) (ed25519.PublicKey, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("an Ed25519 public key is %d bytes, not %d", ed25519.PublicKeySize, len(b))
			}
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, errors.New("not base64")
}

// Refusal is why a request may not open a session, with the HTTP status
// to answer.
type Refusal struct {
	Status int
	Reason string // a metric label: missing_token, bad_token, wrong_stream, nodes_only
	Msg    string
}

func (r *Refusal) Error() string { return r.Msg }

// Policy checks WHEP offers against a Config. It is safe for concurrent use.
type Policy struct {
	cfg     Config
	nodes   [][]byte
	hmacs   [][]byte
	pubs    []ed25519.PublicKey
	now     func() time.Time
	nodeIDs map[string]int // key id of each node secret
}

// NewPolicy builds the policy of a validated Config; now is the clock.
func NewPolicy(cfg Config, now func() time.Time) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Policy{cfg: cfg, now: now, nodeIDs: map[string]int{}}
	for i, s := range cfg.NodeSecrets {
		p.nodes = append(p.nodes, []byte(s))
		p.nodeIDs[keyID(s)] = i
	}
	for _, k := range cfg.PlaybackKeys {
		p.hmacs = append(p.hmacs, []byte(k))
	}
	for _, k := range cfg.PlaybackPublicKeys {
		pub, _ := parsePublicKey(k)
		p.pubs = append(p.pubs, pub)
	}
	return p, nil
}

// keyID names a secret in a token's header without revealing it.
func keyID(secret string) string {
	sum := sha256.Sum256([]byte("livedrop node key id\x00" + secret))
	return hex.EncodeToString(sum[:6])
}

// PolicyOf returns the policy of a stream.
func (p *Policy) PolicyOf(stream string) string {
	if s, ok := p.cfg.Streams[stream]; ok {
		return s
	}
	return p.cfg.Viewers
}

// NodeToken mints the token this node presents to its upstream, or ""
// when it has no node secret.
func (p *Policy) NodeToken(nodeID string) (string, error) {
	if len(p.nodes) == 0 {
		return "", nil
	}
	now := p.now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer:    nodeID,
		Audience:  jwt.ClaimStrings{NodeAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(nodeTokenTTL)),
	})
	t.Header["kid"] = keyID(p.cfg.NodeSecrets[0])
	return t.SignedString(p.nodes[0])
}

// Authorize decides whether the offer r may open a session on stream: a
// valid node token always may; otherwise the stream's policy decides.
func (p *Policy) Authorize(r *http.Request, stream string) error {
	tok, hasTok := jsonhttp.BearerToken(r)
	if hasTok && p.validNode(tok) {
		return nil
	}
	switch p.PolicyOf(stream) {
	case Public:
		return nil
	case Nodes:
		if !hasTok {
			return &Refusal{Status: http.StatusUnauthorized, Reason: "missing_token",
				Msg: "this endpoint serves livedrop edges: present the node token (Authorization: Bearer)"}
		}
		return &Refusal{Status: http.StatusUnauthorized, Reason: "bad_token",
			Msg: "node token refused: not signed with a node secret this node accepts, or expired"}
	}
	if !hasTok {
		return &Refusal{Status: http.StatusUnauthorized, Reason: "missing_token",
			Msg: "this stream needs a playback token (Authorization: Bearer, or ?token= on the watch page)"}
	}
	return p.checkPlayback(tok, stream)
}

// IsNode reports whether r presents a valid node token (another livedrop
// node, not a player).
func (p *Policy) IsNode(r *http.Request) bool {
	tok, ok := jsonhttp.BearerToken(r)
	return ok && p.validNode(tok)
}

// WHEP adapts Authorize to whep.ServerParams.Authorize: a refusal's
// status and message, or 403 for an error that is not one.
func (p *Policy) WHEP(r *http.Request, stream string) (int, error) {
	err := p.Authorize(r, stream)
	if err == nil {
		return 0, nil
	}
	var ref *Refusal
	if errors.As(err, &ref) {
		return ref.Status, err
	}
	return http.StatusForbidden, err
}

func (p *Policy) parser(opts ...jwt.ParserOption) *jwt.Parser {
	return jwt.NewParser(append(opts, jwt.WithExpirationRequired(), jwt.WithTimeFunc(p.now), jwt.WithLeeway(5*time.Second))...)
}

func (p *Policy) validNode(tok string) bool {
	if len(p.nodes) == 0 {
		return false
	}
	_, err := p.parser(jwt.WithAudience(NodeAudience)).Parse(tok, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("node tokens are HS256")
		}
		kid, _ := t.Header["kid"].(string)
		i, ok := p.nodeIDs[kid]
		if !ok {
			return nil, errors.New("unknown node key")
		}
		return p.nodes[i], nil
	})
	return err == nil
}

// PlaybackClaims are what a playback token says: the stream it opens,
// and when it expires (required).
type PlaybackClaims struct {
	Stream string `json:"stream"`
	jwt.RegisteredClaims
}

func (p *Policy) checkPlayback(tok, stream string) error {
	var claims PlaybackClaims
	var lastErr error
	for _, key := range p.playbackKeys() {
		claims = PlaybackClaims{}
		_, err := p.parser().ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
			switch k := key.(type) {
			case []byte:
				if t.Method != jwt.SigningMethodHS256 {
					return nil, errors.New("wrong method")
				}
				return k, nil
			case ed25519.PublicKey:
				if t.Method != jwt.SigningMethodEdDSA {
					return nil, errors.New("wrong method")
				}
				return k, nil
			}
			return nil, errors.New("no key")
		})
		lastErr = err
		if err == nil || !errors.Is(err, jwt.ErrTokenSignatureInvalid) && !errors.Is(err, jwt.ErrTokenUnverifiable) {
			break // this key signed it: its verdict on the claims is the answer
		}
	}
	if lastErr != nil {
		msg := "playback token refused: not signed with a configured key"
		if errors.Is(lastErr, jwt.ErrTokenExpired) {
			msg = "playback token refused: expired"
		} else if errors.Is(lastErr, jwt.ErrTokenRequiredClaimMissing) {
			msg = "playback token refused: it has no exp claim"
		}
		return &Refusal{Status: http.StatusUnauthorized, Reason: "bad_token", Msg: msg}
	}
	if claims.Stream != stream {
		return &Refusal{Status: http.StatusForbidden, Reason: "wrong_stream",
			Msg: fmt.Sprintf("playback token is for stream %q, not %q", claims.Stream, stream)}
	}
	return nil
}

func (p *Policy) playbackKeys() []any {
	keys := make([]any, 0, len(p.hmacs)+len(p.pubs))
	for _, k := range p.hmacs {
		keys = append(keys, k)
	}
	for _, k := range p.pubs {
		keys = append(keys, k)
	}
	return keys
}
