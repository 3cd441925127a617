package origin

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/bluenviron/gortsplib/v4/pkg/auth"
)

// validateRTSPAuth checks the RTSP credential and hardening keys.
func (c *Config) validateRTSPAuth() error {
	if c.RTSPReadOpen {
		if c.ReadUser != "" || c.ReadPassword != "" {
			return errors.New("rtsp_read_open: true with read_user/read_password set: choose one")
		}
	} else if c.ReadUser == "" || c.ReadPassword == "" {
		return errors.New("read_user, read_password: must be set (LIVEDROP_READ_PASSWORD), or rtsp_read_open: true to let anyone read RTSP")
	}
	if _, err := authMethods(c.RTSPAuthMethods); err != nil {
		return err
	}
	if c.RTSPMaxConns < 1 {
		return errors.New("rtsp_max_conns: must be at least 1")
	}
	if c.RTSPMaxConnsPerIP < 1 || c.RTSPMaxConnsPerIP > c.RTSPMaxConns {
		return fmt.Errorf("rtsp_max_conns_per_ip: must be 1..rtsp_max_conns (%d)", c.RTSPMaxConns)
	}
	if c.RTSPHandshakeTimeout <= 0 {
		return errors.New("rtsp_handshake_timeout: must be positive")
	}
	return c.AuthGuard.Validate()
}

// authMethods maps rtsp_auth_methods to gortsplib's methods.
func authMethods(names []string) ([]auth.VerifyMethod, error) {
	if len(names) == 0 {
		return nil, errors.New(`rtsp_auth_methods: must list "digest", "basic" or both`)
	}
	var out []auth.VerifyMethod
	for _, n := range names {
		var m auth.VerifyMethod
		switch n {
		case "digest":
			m = auth.VerifyMethodDigestMD5
		case "basic":
			m = auth.VerifyMethodBasic
		default:
			return nil, fmt.Errorf(`rtsp_auth_methods: %q is not "digest" or "basic"`, n)
		}
		if slices.Contains(out, m) {
			return nil, fmt.Errorf("rtsp_auth_methods: %q listed twice", n)
		}
		out = append(out, m)
	}
	return out, nil
}

// Exposure lists what this configuration leaves open on a public address
// (http_addr or rtsp_addr not on loopback; ":8554" is every interface):
// RTSP reading without credentials, Basic auth (the password in clear).
// `livedrop origin` refuses such a configuration unless --insecure.
func (c *Config) Exposure() error {
	rtspPublic, httpPublic := PublicAddr(c.RTSPAddr), PublicAddr(c.HTTPAddr)
	if !rtspPublic && !httpPublic {
		return nil
	}
	var errs []error
	if rtspPublic && c.RTSPReadOpen {
		errs = append(errs, fmt.Errorf("rtsp_read_open: anyone may read RTSP on the public rtsp_addr %q; set read_user and read_password", c.RTSPAddr))
	}
	if rtspPublic && slices.Contains(c.RTSPAuthMethods, "basic") {
		errs = append(errs, fmt.Errorf(`rtsp_auth_methods: "basic" sends passwords in clear on the public rtsp_addr %q; use [digest]`, c.RTSPAddr))
	}
	if c.PublishPassword == "" {
		errs = append(errs, errors.New("publish_password: empty on a public address"))
	}
	return errors.Join(errs...)
}

// PublicAddr reports whether a listen address "host:port" takes
// connections from beyond this host: an empty host or an unspecified IP
// (every interface), or any host but localhost and loopback IPs.
func PublicAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return true // a name: it may resolve to anything
	}
	return !ip.Unmap().IsLoopback()
}
