package app

import (
	"context"
	"errors"
	"strings"
	"testing"

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
		{"edge", map[string]string{"LIVEDROP_HTTP_READ_TIMEOUT": "0s"}, "http_read_timeout"},
		{"edge", map[string]string{"LIVEDROP_HTTP_MAX_HEADER_BYTES": "12"}, "http_max_header_bytes"},
		{"origin", map[string]string{"LIVEDROP_PUBLISH_PASSWORD": "x", "LIVEDROP_TLS_CERT_FILE": "cert.pem"}, "tls_key_file"},
		{"edge", map[string]string{"LIVEDROP_TLS_CERT_FILE": "/nonexistent/cert.pem", "LIVEDROP_TLS_KEY_FILE": "/nonexistent/key.pem", "LIVEDROP_HTTP_ADDR": "127.0.0.1:0"}, "tls_cert_file"},
	}
	for _, tc := range tests {
		t.Run(tc.cmd+"/"+tc.want, func(t *testing.T) {
			var out strings.Builder
			err := Main(context.Background(), []string{tc.cmd}, Env{Stdout: &out, Stderr: &out, Lookup: envOf(tc.env)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
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
