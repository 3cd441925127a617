package edge

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/livedrop/livedrop/internal/access"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/whep"
)

// Config is an edge node's configuration (configs/edge.yaml).
type Config struct {
	// HTTPAddr serves viewers (page, WHEP), orders, /metrics and health.
	HTTPAddr string `yaml:"http_addr"`
	// OriginURL is the base URL of the origin, or of another edge, to pull from.
	OriginURL string `yaml:"origin_url"`
	// OriginURLs, when set, replaces origin_url with a list: the active
	// origin first, then standbys that ingest the same cameras. A pull whose
	// origin dies moves to the next one (and stays there).
	OriginURLs []string `yaml:"origin_urls"`
	// UpstreamSilence is how long a pull may receive nothing before the
	// edge probes its origin; an origin that does not answer is left for
	// the next one. 0 turns the probe off (the ICE timeouts still apply).
	UpstreamSilence time.Duration `yaml:"upstream_silence"`
	// Siblings are the public base URLs of the other edges serving the
	// same streams (https://edge-b.example.com; an edge skips its own
	// public_url, so a region's edges may share one list). When this edge
	// drains (SIGTERM), each viewer's
	// page is told to move to one of them, in turn, and moves its video,
	// events and orders there without a reload; pages of the siblings may
	// call this edge's API (CORS, and the events WebSocket). Empty: pages
	// are told to reconnect to the address they came from, right behind a
	// load balancer that stops sending to an edge whose /readyz fails.
	Siblings []string `yaml:"siblings"`
	// PublicURL is this edge's own base URL as pages reach it, to skip it
	// in Siblings (so every edge of a region can share one list).
	PublicURL string `yaml:"public_url"`
	// MoveGrace bounds how long a draining edge waits for its viewers to
	// move before its HTTP drain closes their sessions (0: nobody is told).
	MoveGrace time.Duration `yaml:"move_grace"`
	// Region names this edge in metrics and overlays.
	Region string `yaml:"region"`
	// NodeID names this edge's inventory leases; it must stay the same
	// across restarts and differ between edges ("" uses region).
	NodeID  string `yaml:"node_id"`
	DataDir string `yaml:"data_dir"`
	// IdleTimeout is how long the upstream connection of a stream stays
	// open after its last viewer leaves.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// QueueSize is each viewer's packet queue.
	QueueSize int `yaml:"queue_size"`
	// GOPStart starts new viewers from the stream's kept GOP instead of
	// waiting for the source's next keyframe.
	GOPStart bool `yaml:"gop_start"`
	// AudioHold lets audio wait for the next video frame, at most this
	// long, and leave with it: its packet joins the frame's datagram,
	// for up to a frame interval of audio delay (0: audio leaves at once).
	AudioHold time.Duration  `yaml:"audio_hold"`
	ICE       peer.ICEConfig `yaml:"ice"`

	// WHEP bounds the WHEP sessions this node serves.
	WHEP whep.Budget `yaml:"whep"`
	// Access says who may open WHEP sessions here, and holds the node
	// secret shared by the origin and its edges.
	Access access.Config `yaml:"access"`
	// Proof tunes the proofs gated drops ask of buyers (watch time, proof
	// of work).
	Proof proof.Config `yaml:"proof"`

	httpnode.Settings `yaml:",inline"`
}

// DefaultConfig returns the defaults; configs/edge.yaml holds the same values.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:        ":8080",
		OriginURL:       "http://127.0.0.1:8081",
		Region:          "local",
		DataDir:         "./data/edge",
		IdleTimeout:     5 * time.Second,
		UpstreamSilence: 500 * time.Millisecond,
		MoveGrace:       5 * time.Second,
		QueueSize:       512,
		GOPStart:        true,
		AudioHold:       50 * time.Millisecond,
		ICE:             edgeICE(),
		WHEP:            whep.DefaultEdgeBudget(),
		Access:          access.Defaults(access.Public),
		Proof:           proof.Defaults(),
		Settings:        httpnode.DefaultSettings(),
	}
}

func edgeICE() peer.ICEConfig {
	c := peer.DefaultICEConfig()
	c.UDPPort = 8189
	return c
}

// Origins lists the upstreams to pull from, in order of preference:
// origin_urls when set, else origin_url.
func (c *Config) Origins() []string {
	if len(c.OriginURLs) > 0 {
		return c.OriginURLs
	}
	return []string{c.OriginURL}
}

// ID is the edge's stable name: node_id, or region when unset.
func (c *Config) ID() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	return c.Region
}

// Validate checks the configuration; errors name the YAML key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("http_addr: %q is not host:port", c.HTTPAddr)
	}
	key := "origin_url"
	if len(c.OriginURLs) > 0 {
		key = "origin_urls"
	}
	seen := map[string]bool{}
	for _, o := range c.Origins() {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: %q is not an http(s) base URL", key, o)
		}
		if seen[o] {
			return fmt.Errorf("%s: %q is listed twice", key, o)
		}
		seen[o] = true
	}
	for i, sb := range c.Siblings {
		if _, err := originOf(sb); err != nil {
			return fmt.Errorf("siblings[%d]: %w", i, err)
		}
	}
	if c.PublicURL != "" {
		if _, err := originOf(c.PublicURL); err != nil {
			return fmt.Errorf("public_url: %w", err)
		}
	}
	if c.MoveGrace < 0 || c.MoveGrace > 5*time.Minute {
		return errors.New("move_grace: must be between 0 and 5m")
	}
	if c.UpstreamSilence < 0 || c.UpstreamSilence > time.Minute {
		return errors.New("upstream_silence: must be between 0 and 1m")
	}
	if c.Region == "" {
		return errors.New("region: must be set")
	}
	if c.DataDir == "" {
		return errors.New("data_dir: must be set")
	}
	if c.IdleTimeout < 0 {
		return errors.New("idle_timeout: must be >= 0")
	}
	if c.QueueSize < 16 || c.QueueSize > 1<<16 {
		return errors.New("queue_size: must be between 16 and 65536")
	}
	if c.AudioHold < 0 || c.AudioHold > time.Second {
		return errors.New("audio_hold: must be between 0 and 1s")
	}
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if err := c.ICE.Validate(); err != nil {
		return err
	}
	if err := c.WHEP.Validate(); err != nil {
		return err
	}
	if len(c.Access.NodeSecrets) == 0 {
		return errors.New("access.node_secrets: must be set (LIVEDROP_NODE_SECRET): the edge presents it to its origin and signs order tokens with it")
	}
	if err := c.Access.Validate(); err != nil {
		return err
	}
	return c.Proof.Validate()
}

// originOf is a base URL's browser origin: lower-case scheme://host[:port].
func originOf(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q is not an http(s) base URL (scheme://host[:port])", base)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// MoveTargets are the sibling base URLs a draining edge sends its viewers
// to (without a trailing slash, this edge's own PublicURL left out).
func (c *Config) MoveTargets() []string {
	self, _ := originOf(c.PublicURL)
	var out []string
	for _, sb := range c.Siblings {
		o, err := originOf(sb)
		if err != nil || o == self || slices.Contains(out, o) {
			continue
		}
		out = append(out, o)
	}
	return out
}
