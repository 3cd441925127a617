package app

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/origin"
	"github.com/livedrop/livedrop/overlay"
)

// fuzzEnv is the environment a node starts with: its secrets only.
var fuzzEnv = map[string]string{
	"LIVEDROP_PUBLISH_PASSWORD": "fuzz-publish-password",
	"LIVEDROP_CONTROL_TOKEN":    "fuzz-control-token-0123456789",
	"LIVEDROP_NODE_SECRET":      "fuzz-node-secret-0123456789",
	"LIVEDROP_READ_USER":        "viewer",
	"LIVEDROP_READ_PASSWORD":    "fuzz-read-password",
}

// configKind is a configuration a command loads: its defaults and the
// short variable names it takes.
type configKind struct {
	fresh   func() config.Validator
	aliases config.Aliases
}

var configKinds = map[string]configKind{
	"origin": {func() config.Validator {
		return &originConfig{Config: origin.DefaultConfig(), Checkout: checkoutConfig{Config: checkout.Defaults()}, Overlay: overlay.Defaults()}
	}, nodeAliases},
	"edge": {func() config.Validator {
		return &edgeConfig{Config: edge.DefaultConfig(), Checkout: checkoutConfig{Config: checkout.Defaults()}, Overlay: overlay.Defaults()}
	}, nodeAliases},
	"demo": {func() config.Validator { return ptr(DefaultDemoConfig()) }, demoAliases},
}

// load does what config.Load does with a file's bytes: strict YAML over
// the defaults, the environment, then Validate.
func (k configKind) load(data []byte, cfg config.Validator) error {
	if err := config.Decode(data, cfg); err != nil {
		return err
	}
	if err := config.ApplyEnv(cfg, k.aliases.Lookup(envOf(fuzzEnv))); err != nil {
		return err
	}
	return cfg.Validate()
}

// namesWhere: a YAML error names its line; a validation error starts with
// the key path ("ice.udp_port: ...", "pull[0].url: ...", "a, b: ...").
var namesWhere = regexp.MustCompile(`line \d+|^[a-z0-9_]+(\.[a-z0-9_]+|\[\d+\])*(, [a-z0-9_.]+)*: `)

// FuzzConfig loads fuzzed bytes as each node's YAML file (origin, edge,
// demo). Properties: no panic; an error names a line or a key; a file that
// loads round-trips: marshalled again and loaded, it gives the same
// configuration. Seeds are configs/*.yaml and broken variants of them.
func FuzzConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for kind, k := range configKinds {
			cfg := k.fresh()
			err := k.load(data, cfg)
			if err != nil {
				if !namesWhere.MatchString(err.Error()) {
					t.Fatalf("%s config: error %q names neither a line nor a key", kind, err)
				}
				continue
			}
			out, err := yaml.Marshal(cfg)
			if err != nil {
				t.Fatalf("%s config loaded but does not marshal: %v", kind, err)
			}
			again := k.fresh()
			if err := k.load(out, again); err != nil {
				t.Fatalf("%s config loaded, but its own YAML does not: %v\n%s", kind, err, out)
			}
			normalizeEmpty(cfg)
			normalizeEmpty(again)
			if !reflect.DeepEqual(cfg, again) {
				t.Fatalf("%s config does not round-trip:\n first  %+v\n second %+v\nyaml:\n%s", kind, cfg, again, out)
			}
		}
	})
}

// normalizeEmpty makes empty slices and maps nil: YAML does not tell them
// apart.
func normalizeEmpty(v any) {
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i))
			}
		case reflect.Slice:
			if v.Len() == 0 && v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			if v.Len() == 0 && v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
		}
	}
	walk(reflect.ValueOf(v))
}

// TestShippedConfigsLoad: each configs/*.yaml loads as its node's
// configuration (with the secrets from the environment), so FuzzConfig's
// seeds reach the round trip; a broken copy gives an error naming where.
func TestShippedConfigsLoad(t *testing.T) {
	for kind, k := range configKinds {
		data, err := os.ReadFile(filepath.Join(configsDir(t), kind+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.load(data, k.fresh()); err != nil {
			t.Fatalf("configs/%s.yaml: %v", kind, err)
		}
		for broken, want := range map[string]string{
			string(data) + "\nhttp_adr: \":9\"\n": "field http_adr not found",
			"idle_timeout: 5 parsecs\n":           "line 1",
			"checkout:\n  lease_min: [1]\n":       "line 2",
			"checkout:\n  lease_min: -1\n":        "checkout.lease_min: ",
		} {
			err := k.load([]byte(broken), k.fresh())
			if err == nil || !strings.Contains(err.Error(), want) || !namesWhere.MatchString(err.Error()) {
				t.Errorf("%s config %q: error %v, want one containing %q", kind, broken[max(0, len(broken)-40):], err, want)
			}
		}
	}
}
