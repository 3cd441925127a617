package origin

import (
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestPublishBruteForceIsLockedOut(t *testing.T) {
	o := startTestOrigin(t, nil)
	start := time.Now()
	for i := 0; i < 500; i++ {
		if err := publish(o.Origin, fmt.Sprintf("guess-%d", i)); err == nil {
			t.Fatalf("guess %d was accepted", i)
		}
	}
	t.Logf("500 wrong publishes in %v", time.Since(start))
	if n := counter(t, o.reg, "livedrop_auth_failures_total", map[string]string{"surface": "rtsp_publish", "reason": "wrong_credentials"}); n != 5 {
		t.Fatalf("wrong credentials checked %v times, want the budget of 5", n)
	}
	if n := counter(t, o.reg, "livedrop_auth_failures_total", map[string]string{"surface": "rtsp_publish", "reason": "locked_out"}); n != 495 {
		t.Fatalf("locked_out = %v, want 495", n)
	}
	if n := counter(t, o.reg, "livedrop_auth_lockouts_total", map[string]string{"surface": "rtsp_publish"}); n != 1 {
		t.Fatalf("lockouts = %v, want 1", n)
	}
	// The right password during the lockout: refused unchecked.
	if err := publish(o.Origin, testPubPass); err == nil {
		t.Fatal("the right password was accepted during the lockout")
	}
	if lines := o.logs.linesWith("auth"); lines > 3 {
		t.Fatalf("%d log lines about auth for 501 tries:\n%s", lines, o.logs)
	}
	if strings.Contains(o.logs.String(), "guess-") || strings.Contains(o.logs.String(), testPubPass) {
		t.Fatalf("a password was logged:\n%s", o.logs)
	}
	o.clock.add(o.cfg.AuthGuard.Lockout)
	if err := publish(o.Origin, testPubPass); err != nil {
		t.Fatalf("the right password after the lockout: %v", err)
	}
}

func TestDigestOfferedBasicRefused(t *testing.T) {
	for _, tc := range []struct {
		methods   []string
		wantBasic bool
	}{
		{nil, false}, // the default: [digest]
		{[]string{"basic", "digest"}, true},
	} {
		t.Run(strings.Join(tc.methods, "+"), func(t *testing.T) {
			o := startTestOrigin(t, func(c *Config) {
				if tc.methods != nil {
					c.RTSPAuthMethods = tc.methods
				}
			})
			url := "rtsp://" + o.RTSPAddr() + "/cam"
			c, err := net.Dial("tcp", o.RTSPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := rtspRequest(c, "DESCRIBE", url, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			challenges := strings.Join(res.header.Values("Www-Authenticate"), " | ")
			if res.status != 401 || !strings.Contains(challenges, "Digest") {
				t.Fatalf("DESCRIBE without credentials: %d %q, want 401 offering Digest", res.status, challenges)
			}
			if got := strings.Contains(challenges, "Basic"); got != tc.wantBasic {
				t.Fatalf("Basic offered = %v, want %v (%q)", got, tc.wantBasic, challenges)
			}
			// The right read credentials, answered with Digest: the stream is
			// simply not there (404), so authentication passed.
			nonce := reNonce.FindStringSubmatch(challenges)
			if nonce == nil {
				t.Fatalf("no nonce in %q", challenges)
			}
			res, err = rtspRequest(c, "DESCRIBE", url, 2, map[string]string{"Authorization": digest("viewer", testReadPass, "DESCRIBE", url, nonce[1])})
			if err != nil || res.status != 404 {
				t.Fatalf("DESCRIBE with digest: %d %v, want 404", res.status, err)
			}
			// The right credentials in clear.
			c2, err := net.Dial("tcp", o.RTSPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("viewer:"+testReadPass))
			res, err = rtspRequest(c2, "DESCRIBE", url, 1, map[string]string{"Authorization": basic})
			want := 401
			if tc.wantBasic {
				want = 404
			}
			if err != nil || res.status != want {
				t.Fatalf("DESCRIBE with basic: %d %v, want %d", res.status, err, want)
			}
			if !tc.wantBasic {
				if n := counter(t, o.reg, "livedrop_auth_failures_total", map[string]string{"surface": "rtsp_read", "reason": "method_not_allowed"}); n != 1 {
					t.Fatalf("method_not_allowed = %v, want 1", n)
				}
			}
		})
	}
}

func TestReadNeedsCredentialsUnlessOpen(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Access.NodeSecrets = []string{testNodeSecret}
	cfg.PublishPassword = "x"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "read_user, read_password") {
		t.Fatalf("default config without read credentials: %v", err)
	}
	cfg.RTSPReadOpen = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("rtsp_read_open: %v", err)
	}
	cfg.ReadUser, cfg.ReadPassword = "viewer", "p"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "rtsp_read_open") {
		t.Fatalf("both open and credentials: %v", err)
	}

	o := startTestOrigin(t, nil)
	c, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res, err := rtspRequest(c, "DESCRIBE", "rtsp://"+o.RTSPAddr()+"/cam", 1, nil); err != nil || res.status != 401 {
		t.Fatalf("DESCRIBE without credentials: %d %v, want 401", res.status, err)
	}
	open := startTestOrigin(t, func(c *Config) { c.RTSPReadOpen, c.ReadUser, c.ReadPassword = true, "", "" })
	c2, err := net.Dial("tcp", open.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if res, err := rtspRequest(c2, "DESCRIBE", "rtsp://"+open.RTSPAddr()+"/cam", 1, nil); err != nil || res.status != 404 {
		t.Fatalf("DESCRIBE on an open origin: %d %v, want 404", res.status, err)
	}
}

func TestPublicAddressExposure(t *testing.T) {
	for addr, public := range map[string]bool{
		":8554": true, "0.0.0.0:8554": true, "[::]:8554": true, "192.0.2.10:8554": true, "cam.example:8554": true,
		"127.0.0.1:8554": false, "[::1]:8554": false, "localhost:8554": false, "127.0.0.2:1": false,
	} {
		if got := PublicAddr(addr); got != public {
			t.Errorf("PublicAddr(%q) = %v, want %v", addr, got, public)
		}
	}
	cfg := DefaultConfig()
	cfg.Access.NodeSecrets = []string{testNodeSecret}
	cfg.PublishPassword, cfg.RTSPReadOpen = "x", true
	err := cfg.Exposure()
	if err == nil || !strings.Contains(err.Error(), "rtsp_read_open") || !strings.Contains(err.Error(), `":8554"`) {
		t.Fatalf("open read on :8554: %v", err)
	}
	cfg.RTSPAuthMethods = []string{"basic", "digest"}
	if err := cfg.Exposure(); err == nil || !strings.Contains(err.Error(), "rtsp_auth_methods") {
		t.Fatalf("basic on :8554: %v", err)
	}
	cfg.HTTPAddr, cfg.RTSPAddr = "127.0.0.1:8081", "127.0.0.1:8554"
	if err := cfg.Exposure(); err != nil {
		t.Fatalf("loopback only: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Access.NodeSecrets = []string{testNodeSecret}
	cfg.PublishPassword, cfg.ReadUser, cfg.ReadPassword = "x", "viewer", "y"
	if err := cfg.Exposure(); err != nil {
		t.Fatalf("credentials everywhere: %v", err)
	}
}

func TestAuthMethodsKey(t *testing.T) {
	for _, bad := range [][]string{{}, {"ntlm"}, {"digest", "digest"}} {
		cfg := DefaultConfig()
		cfg.Access.NodeSecrets = []string{testNodeSecret}
		cfg.PublishPassword, cfg.RTSPReadOpen = "x", true
		cfg.RTSPAuthMethods = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "rtsp_auth_methods") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestGlobalConnectionCap(t *testing.T) {
	o := startTestOrigin(t, func(c *Config) { c.RTSPMaxConns, c.RTSPMaxConnsPerIP = 3, 3 })
	holdConns(t, o, 3)
	before := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns"})
	c, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := rtspRequest(c, "OPTIONS", "rtsp://"+o.RTSPAddr()+"/", 1, nil); err == nil {
		t.Fatal("a fourth connection was served over rtsp_max_conns 3")
	}
	if n := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns"}); n != before+1 {
		t.Fatalf("max_conns refusals = %v, want %v", n, before+1)
	}
}
