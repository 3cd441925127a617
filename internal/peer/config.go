package peer

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ICEConfig is the WebRTC transport configuration of a node.
type ICEConfig struct {
	// IncludeLoopback offers 127.0.0.1 candidates (useful on one host).
	IncludeLoopback bool `yaml:"include_loopback"`
	// PublicIPs are announced instead of the host's addresses (1:1 NAT).
	PublicIPs []string `yaml:"public_ips"`
	// UDPPort carries all WebRTC media of the node on one UDP port (ICE
	// UDP mux), for firewalls, containers and NAT. 0 opens a port per session.
	UDPPort int `yaml:"udp_port"`
	// TCPPort accepts ICE over TCP on one port, the fallback for players
	// whose UDP is blocked. 0 turns it off.
	TCPPort int `yaml:"tcp_port"`
	// Servers are STUN/TURN URLs handed to players in WHEP Link headers
	// (stun:host:port, turn:host:port?transport=udp).
	Servers []string `yaml:"servers"`
	// TURNUsername and TURNCredential go with the turn: servers.
	TURNUsername   string `yaml:"turn_username"`
	TURNCredential string `yaml:"turn_credential"`
	// DisconnectedTimeout is how long without traffic before a peer is
	// considered disconnected; FailedTimeout ends the session.
	DisconnectedTimeout time.Duration `yaml:"disconnected_timeout"`
	FailedTimeout       time.Duration `yaml:"failed_timeout"`
}

// DefaultICEConfig returns the defaults, with a port per session; nodes
// set their own UDPPort default.
func DefaultICEConfig() ICEConfig {
	return ICEConfig{IncludeLoopback: true, DisconnectedTimeout: 4 * time.Second, FailedTimeout: 8 * time.Second}
}

// Validate checks the configuration; errors name the YAML key under "ice".
func (c ICEConfig) Validate() error {
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("ice.public_ips: %q is not an IP address", ip)
		}
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("ice.udp_port: %d is not a port (0 for a port per session)", c.UDPPort)
	}
	if c.TCPPort < 0 || c.TCPPort > 65535 {
		return fmt.Errorf("ice.tcp_port: %d is not a port (0 for off)", c.TCPPort)
	}
	for _, s := range c.Servers {
		if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "stuns:") &&
			!strings.HasPrefix(s, "turn:") && !strings.HasPrefix(s, "turns:") {
			return fmt.Errorf("ice.servers: %q is not a stun:, stuns:, turn: or turns: URL", s)
		}
		if strings.ContainsAny(s, "<>\"\r\n ") {
			return fmt.Errorf("ice.servers: %q has characters a Link header cannot carry", s)
		}
	}
	if c.DisconnectedTimeout <= 0 {
		return errors.New("ice.disconnected_timeout: must be > 0")
	}
	if c.FailedTimeout < c.DisconnectedTimeout {
		return errors.New("ice.failed_timeout: must be >= ice.disconnected_timeout")
	}
	return nil
}

// LinkHeaders formats the configured ICE servers as WHEP Link header values.
func (c ICEConfig) LinkHeaders() []string {
	out := make([]string, 0, len(c.Servers))
	for _, s := range c.Servers {
		v := fmt.Sprintf(`<%s>; rel="ice-server"`, s)
		if (strings.HasPrefix(s, "turn:") || strings.HasPrefix(s, "turns:")) && c.TURNUsername != "" {
			v += fmt.Sprintf(`; username="%s"; credential="%s"; credential-type="password"`,
				quoteSafe(c.TURNUsername), quoteSafe(c.TURNCredential))
		}
		out = append(out, v)
	}
	return out
}

func quoteSafe(s string) string {
	return strings.NewReplacer(`"`, "", "\\", "", "\r", "", "\n", "").Replace(s)
}
