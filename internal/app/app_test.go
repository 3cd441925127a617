package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/config"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestBadConfigFailsNamingTheKey runs each command as a user would, with a
// bad value, and checks it refuses to start with the key in the message.
func TestBadConfigFailsNamingTheKey(t *testing.T) {
	tests := []struct {
		cmd  string
		env  map[string]string
		want string
	}{
		{"origin", map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_HTTP_ADDR": "nonsense"}, "http_addr"},
		{"origin", map[string]string{}, "publish_password"},
		{"origin", map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_ICE_PUBLIC_IPS": "1.2.3.4,not-an-ip"}, "ice.public_ips"},
		{"edge", map[string]string{"LIVEDROP_ORIGIN_URL": "ftp://x"}, "origin_url"},
		{"edge", map[string]string{"LIVEDROP_IDLE_TIMEOUT": "soon"}, "idle_timeout"},
		{"edge", map[string]string{"LIVEDROP_REGION": ""}, "region"},
		{"edge", map[string]string{"LIVEDROP_LOG_LEVEL": "loud"}, "log_level"},
		{"origin", map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_SHUTDOWN_GRACE": "0s"}, "shutdown_grace"},
		{"demo", map[string]string{"LIVEDROP_EDGE_QUEUE_SIZE": "1"}, "edge.queue_size"},
		{"demo", map[string]string{"LIVEDROP_STREAM": "no spaces"}, "stream"},
		{"edge", map[string]string{"LIVEDROP_REDIS_URL": "http://nope"}, "checkout.redis_url"},
		{"origin", map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_CONTROL_TOKEN": "short"}, "checkout.control_token"},
		{"demo", map[string]string{"LIVEDROP_CHECKOUT_HOLD_TIME": "0s"}, "checkout.hold_time"},
		{"origin", map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_NODE_SECRET": ""}, "access.node_secrets: must be set"},
		{"edge", map[string]string{"LIVEDROP_NODE_SECRET": ""}, "access.node_secrets: must be set"},
		{"edge", map[string]string{"LIVEDROP_NODE_SECRET": "short"}, "access.node_secrets[0]"},
		{"edge", map[string]string{"LIVEDROP_ACCESS_VIEWERS": "token"}, "access.playback_keys"},
		{"edge", map[string]string{"LIVEDROP_HTTP_READ_TIMEOUT": "0s"}, "http_read_timeout"},
		{"edge", map[string]string{"LIVEDROP_HTTP_MAX_HEADER_BYTES": "12"}, "http_max_header_bytes"},
		{"origin", map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_TLS_CERT_FILE": "cert.pem"}, "tls_key_file"},
		{"edge", map[string]string{"LIVEDROP_TLS_CERT_FILE": "/nonexistent/cert.pem", "LIVEDROP_TLS_KEY_FILE": "/nonexistent/key.pem", "LIVEDROP_HTTP_ADDR": "127.0.0.1:0"}, "tls_cert_file"},
	}
	for _, tc := range tests {
		// Set what every node requires, so the key under test is the one wrong.
		if _, ok := tc.env["LIVEDROP_NODE_SECRET"]; !ok {
			tc.env["LIVEDROP_NODE_SECRET"] = testNodeSecret
		}
		if tc.cmd == "origin" && tc.want != "publish_password" {
			tc.env["LIVEDROP_READ_USER"], tc.env["LIVEDROP_READ_PASSWORD"] = "viewer", "read-secret"
		}
		t.Run(tc.cmd+"/"+tc.want, func(t *testing.T) {
			var out strings.Builder
			err := Main(context.Background(), []string{tc.cmd}, Env{Stdout: &out, Stderr: &out, Lookup: envOf(tc.env)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

const testNodeSecret = "test-node-secret-0123456789"

// TestPublicOriginWithoutCredentialsRefused: an origin on a public
// address (":8554" is every interface) that lets anyone read RTSP, or
// offers Basic auth, does not start unless --insecure is given.
func TestPublicOriginWithoutCredentialsRefused(t *testing.T) {
	base := map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_ICE_UDP_PORT": "0",
		"LIVEDROP_NODE_SECRET": testNodeSecret}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no read credentials", with(), "read_user, read_password"},
		{"open read on :8554", with("LIVEDROP_RTSP_READ_OPEN", "true"), "rtsp_read_open"},
		{"open read on 0.0.0.0", with("LIVEDROP_RTSP_READ_OPEN", "true", "LIVEDROP_RTSP_ADDR", "0.0.0.0:8554", "LIVEDROP_HTTP_ADDR", "127.0.0.1:0"), "rtsp_read_open"},
		{"basic on :8554", with("LIVEDROP_READ_USER", "v", "LIVEDROP_READ_PASSWORD", "y", "LIVEDROP_RTSP_AUTH_METHODS", "basic,digest"), "rtsp_auth_methods"},
		{"public http_addr, checkout without control token", with("LIVEDROP_READ_USER", "v", "LIVEDROP_READ_PASSWORD", "y",
			"LIVEDROP_RTSP_ADDR", "127.0.0.1:0", "LIVEDROP_REDIS_URL", "redis://127.0.0.1:1/0"), "checkout.control_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A mistake here would start a public origin: not for long.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out strings.Builder
			err := Main(ctx, []string{"origin"}, Env{Stdout: &out, Stderr: &out, Lookup: envOf(tc.env)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
			if tc.want != "read_user, read_password" && !strings.Contains(err.Error(), "--insecure") {
				t.Fatalf("error %v does not say how to run anyway", err)
			}
		})
	}
	// With --insecure the check passes: this origin then fails only because
	// 192.0.2.1 (a documentation address) is not this host's to listen on.
	env := with("LIVEDROP_RTSP_READ_OPEN", "true", "LIVEDROP_RTSP_ADDR", "192.0.2.1:8554", "LIVEDROP_HTTP_ADDR", "127.0.0.1:0",
		"LIVEDROP_RTSP_UDP_RTP_ADDR", "", "LIVEDROP_RTSP_UDP_RTCP_ADDR", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	err := Main(ctx, []string{"origin", "--insecure"}, Env{Stdout: &out, Stderr: &out, Lookup: envOf(env)})
	if err == nil || strings.Contains(err.Error(), "rtsp_read_open") || !strings.Contains(err.Error(), "rtsp_addr") {
		t.Fatalf("--insecure: error %v, want the listen failure only", err)
	}
	if !strings.Contains(out.String(), "--insecure") {
		t.Fatalf("--insecure was not warned about:\n%s", out.String())
	}
	if err := Main(context.Background(), []string{"demo", "--insecure"}, Env{Stdout: &out, Stderr: &out}); !errors.Is(err, ErrUsage) {
		t.Fatalf("demo --insecure: %v, want usage", err)
	}
}

func TestUsage(t *testing.T) {
	var out strings.Builder
	if err := Main(context.Background(), []string{"bogus"}, Env{Stdout: &out, Stderr: &out}); !errors.Is(err, ErrUsage) {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "livedrop demo") {
		t.Fatalf("usage text: %s", out.String())
	}
	if err := Main(context.Background(), []string{"edge", "--config", "/nonexistent.yaml"}, Env{Stdout: &out, Stderr: &out}); err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("missing config file: %v", err)
	}
}

// TestDocumentedEnvironmentVariables checks the variable names scripts and
// deploy files rely on.
func TestDocumentedEnvironmentVariables(t *testing.T) {
	o := config.EnvNames(&originConfig{})
	for _, name := range []string{"LIVEDROP_HTTP_ADDR", "LIVEDROP_RTSP_ADDR", "LIVEDROP_DATA_DIR",
		"LIVEDROP_PUBLISH_USER", "LIVEDROP_PUBLISH_PASSWORD", "LIVEDROP_ICE_PUBLIC_IPS"} {
		if _, ok := o[name]; !ok {
			t.Errorf("origin does not read %s", name)
		}
	}
	e := config.EnvNames(&edgeConfig{})
	for _, name := range []string{"LIVEDROP_HTTP_ADDR", "LIVEDROP_ORIGIN_URL", "LIVEDROP_REGION", "LIVEDROP_DATA_DIR",
		"LIVEDROP_CHECKOUT_REDIS_URL", "LIVEDROP_ICE_UDP_PORT"} {
		if _, ok := e[name]; !ok {
			t.Errorf("edge does not read %s", name)
		}
	}
}
