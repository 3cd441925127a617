package origin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/livedrop/livedrop/internal/access"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/whep"
)

// Config is an origin node's configuration (configs/origin.yaml).
type Config struct {
	// HTTPAddr serves WHEP to edges, the control API, /metrics and health.
	HTTPAddr string `yaml:"http_addr"`
	// RTSPAddr takes publishers and RTSP readers.
	RTSPAddr string `yaml:"rtsp_addr"`
	// RTSPUDPRTPAddr and RTSPUDPRTCPAddr enable RTSP over UDP (ports must
	// be an even number and the next one). Empty disables UDP.
	RTSPUDPRTPAddr  string `yaml:"rtsp_udp_rtp_addr"`
	RTSPUDPRTCPAddr string `yaml:"rtsp_udp_rtcp_addr"`
	DataDir         string `yaml:"data_dir"`
	// PublishUser and PublishPassword are the credentials RTSP publishers
	// must present.
	PublishUser     string `yaml:"publish_user"`
	PublishPassword string `yaml:"publish_password"`
	// ReadUser and ReadPassword are the credentials RTSP readers must
	// present, unless RTSPReadOpen lets anyone read.
	ReadUser     string `yaml:"read_user"`
	ReadPassword string `yaml:"read_password"`
	// RTSP and authentication hardening (config_auth.go checks these).
	// RTSPReadOpen lets anyone read RTSP without credentials.
	RTSPReadOpen bool `yaml:"rtsp_read_open"`
	// RTSPAuthMethods are the RTSP schemes offered: "digest" (MD5, what
	// ffmpeg and cameras answer) and "basic" (the password in clear).
	RTSPAuthMethods []string `yaml:"rtsp_auth_methods"`
	// RTSPMaxConns and RTSPMaxConnsPerIP cap concurrent RTSP connections,
	// in all and from one address (an IPv6 /64); more are closed at once.
	RTSPMaxConns      int `yaml:"rtsp_max_conns"`
	RTSPMaxConnsPerIP int `yaml:"rtsp_max_conns_per_ip"`
	// RTSPHandshakeTimeout closes a connection that has not started playing
	// or recording within it (a silent or slow client).
	RTSPHandshakeTimeout time.Duration `yaml:"rtsp_handshake_timeout"`
	// AuthGuard is the budget of wrong RTSP credentials and control tokens.
	AuthGuard guard.Config `yaml:"auth_guard"`
	// Pull lists cameras the origin dials and redials.
	Pull []PullSource `yaml:"pull"`
	// Region labels this node's metrics.
	Region string         `yaml:"region"`
	ICE    peer.ICEConfig `yaml:"ice"`

	// TranscodeAudio turns AAC audio (most IP cameras, ffmpeg's default)
	// into Opus for viewers with an ffmpeg child per stream (FFmpegPath, a
	// path or a name on PATH); without ffmpeg AAC is dropped and video
	// still plays.
	TranscodeAudio bool   `yaml:"transcode_audio"`
	FFmpegPath     string `yaml:"ffmpeg_path"`
	// PublishKeys gives streams keys of their own (stream: key, 16+
	// characters), used instead of publish_password over RTSP (user +
	// key) and WHIP (Bearer); the control API creates, rotates and
	// revokes them, kept under data_dir.
	PublishKeys map[string]string `yaml:"publish_keys"`
	// WHIPTakeover lets a new WHIP publisher replace the live one (an RTSP
	// publisher always does); off, it is refused with 409.
	WHIPTakeover bool `yaml:"whip_takeover"`
	// WHEP bounds the WHEP sessions this node serves.
	WHEP whep.Budget `yaml:"whep"`
	// Access says who may open WHEP sessions here, and holds the node
	// secret shared by the origin and its edges.
	Access access.Config `yaml:"access"`

	httpnode.Settings `yaml:",inline"`
}

// PullSource is a camera the origin pulls over RTSP.
type PullSource struct {
	Stream string `yaml:"stream"`
	URL    string `yaml:"url"`
}

// DefaultConfig returns the defaults; configs/origin.yaml holds the same values.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:        ":8081",
		RTSPAddr:        ":8554",
		RTSPUDPRTPAddr:  ":8000",
		RTSPUDPRTCPAddr: ":8001",
		DataDir:         "./data/origin",
		PublishUser:     "seller",
		Region:          "origin",
		ICE:             originICE(),
		PublishKeys:     map[string]string{},
		TranscodeAudio:  true,
		FFmpegPath:      "ffmpeg",
		WHEP:            whep.DefaultOriginBudget(),
		Access:          access.Defaults(access.Nodes),
		Settings:        httpnode.DefaultSettings(),

		// RTSP and authentication hardening.
		RTSPAuthMethods:      []string{"digest"},
		RTSPMaxConns:         512,
		RTSPMaxConnsPerIP:    16,
		RTSPHandshakeTimeout: 10 * time.Second,
		AuthGuard:            guard.Defaults(),
	}
}

func originICE() peer.ICEConfig {
	c := peer.DefaultICEConfig()
	c.UDPPort = 8190 // beside an edge's 8189 on one host
	return c
}

// Validate checks the configuration; errors name the YAML key.
func (c *Config) Validate() error {
	for key, addr := range map[string]string{"http_addr": c.HTTPAddr, "rtsp_addr": c.RTSPAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s: %q is not host:port", key, addr)
		}
	}
	if (c.RTSPUDPRTPAddr == "") != (c.RTSPUDPRTCPAddr == "") {
		return errors.New("rtsp_udp_rtp_addr, rtsp_udp_rtcp_addr: set both or neither")
	}
	if c.PublishUser == "" {
		return errors.New("publish_user: must be set")
	}
	if c.PublishPassword == "" {
		return errors.New("publish_password: must be set (LIVEDROP_PUBLISH_PASSWORD)")
	}
	if err := c.validateRTSPAuth(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return errors.New("data_dir: must be set")
	}
	seen := map[string]bool{}
	for i, p := range c.Pull {
		if !media.ValidName(p.Stream) {
			return fmt.Errorf("pull[%d].stream: %q must match %s", i, p.Stream, media.NamePattern)
		}
		if seen[p.Stream] {
			return fmt.Errorf("pull[%d].stream: %q listed twice", i, p.Stream)
		}
		seen[p.Stream] = true
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
			return fmt.Errorf("pull[%d].url: %q is not an rtsp:// URL", i, p.URL)
		}
	}
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if err := c.ICE.Validate(); err != nil {
		return err
	}
	for stream, key := range c.PublishKeys {
		if !media.ValidName(stream) {
			return fmt.Errorf("publish_keys: %q must match %s", stream, media.NamePattern)
		}
		if len(key) < MinPublishKeyLen {
			return fmt.Errorf("publish_keys.%s: must be at least %d characters", stream, MinPublishKeyLen)
		}
	}
	if c.TranscodeAudio && c.FFmpegPath == "" {
		return errors.New("ffmpeg_path: must be set when transcode_audio is on")
	}
	if err := c.WHEP.Validate(); err != nil {
		return err
	}
	if len(c.Access.NodeSecrets) == 0 {
		return errors.New("access.node_secrets: must be set (LIVEDROP_NODE_SECRET): edges present it to pull streams")
	}
	if err := c.Access.Validate(); err != nil {
		return err
	}
	return nil
}
