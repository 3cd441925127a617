package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type inner struct {
	UDPPort   int      `yaml:"udp_port"`
	PublicIPs []string `yaml:"public_ips"`
}

type testConfig struct {
	HTTPAddr string        `yaml:"http_addr"`
	Timeout  time.Duration `yaml:"timeout"`
	Debug    bool          `yaml:"debug"`
	ICE      inner         `yaml:"ice"`
	Pull     []struct {
		URL string `yaml:"url"`
	} `yaml:"pull"`
}

func (c *testConfig) Validate() error {
	if c.HTTPAddr == "" {
		return errors.New("http_addr: must be set")
	}
	return nil
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadLayers(t *testing.T) {
	cfg := &testConfig{HTTPAddr: ":8080", Timeout: time.Second}
	p := writeFile(t, "http_addr: ':9000'\nice:\n  udp_port: 1\npull:\n  - url: rtsp://x\n")
	err := Load(p, cfg, env(map[string]string{
		"LIVEDROP_ICE_UDP_PORT":   "8189",
		"LIVEDROP_ICE_PUBLIC_IPS": "1.2.3.4, 5.6.7.8",
		"LIVEDROP_TIMEOUT":        "3s",
		"LIVEDROP_DEBUG":          "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":9000" || cfg.ICE.UDPPort != 8189 || cfg.Timeout != 3*time.Second || !cfg.Debug {
		t.Fatalf("layers not applied: %+v", cfg)
	}
	if strings.Join(cfg.ICE.PublicIPs, "|") != "1.2.3.4|5.6.7.8" || len(cfg.Pull) != 1 {
		t.Fatalf("lists: %+v", cfg)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"unknown key", "htp_addr: x\n", nil, "htp_addr"},
		{"bad env int", "", map[string]string{"LIVEDROP_ICE_UDP_PORT": "abc"}, "ice.udp_port (from LIVEDROP_ICE_UDP_PORT): not an integer"},
		{"bad env duration", "", map[string]string{"LIVEDROP_TIMEOUT": "soon"}, "timeout"},
		{"validate", "", map[string]string{"LIVEDROP_HTTP_ADDR": ""}, "http_addr: must be set"},
		{"bad yaml type", "ice:\n  udp_port: many\n", nil, "many"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &testConfig{HTTPAddr: ":1"}
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			err := Load(path, cfg, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	cfg := &testConfig{HTTPAddr: ":1"}
	if err := Load(writeFile(t, ""), cfg, env(nil)); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":1" {
		t.Fatal(cfg.HTTPAddr)
	}
}

func TestEnvNames(t *testing.T) {
	names := EnvNames(&testConfig{})
	if names["LIVEDROP_ICE_PUBLIC_IPS"] != "ice.public_ips" || names["LIVEDROP_HTTP_ADDR"] != "http_addr" {
		t.Fatalf("%v", names)
	}
	if _, ok := names["LIVEDROP_PULL"]; ok {
		t.Fatal("lists of objects are not env-settable")
	}
}

func TestAliasesFullNameWins(t *testing.T) {
	a := Aliases{"LIVEDROP_ICE_UDP_PORT": "LIVEDROP_UDP_PORT"}
	env := map[string]string{"LIVEDROP_UDP_PORT": "9000"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg := testConfig{HTTPAddr: ":1"}
	if err := ApplyEnv(&cfg, a.Lookup(lookup)); err != nil || cfg.ICE.UDPPort != 9000 {
		t.Fatalf("alias: udp_port %d, %v; want 9000", cfg.ICE.UDPPort, err)
	}
	env["LIVEDROP_ICE_UDP_PORT"] = "9001"
	if err := ApplyEnv(&cfg, a.Lookup(lookup)); err != nil || cfg.ICE.UDPPort != 9001 {
		t.Fatalf("both set: udp_port %d, %v; want the full name's 9001", cfg.ICE.UDPPort, err)
	}
	if v, ok := a.Lookup(lookup)("LIVEDROP_OTHER"); ok {
		t.Fatalf("unknown name answered %q", v)
	}
}
