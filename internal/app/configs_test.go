package app

import (
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/origin"
	"github.com/livedrop/livedrop/overlay"
)

func configsDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "configs")
}

// TestShippedConfigsEqualDefaults keeps configs/*.yaml and the code's
// defaults from drifting apart.
func TestShippedConfigsEqualDefaults(t *testing.T) {
	normalize := func(v any) {
		// An empty YAML list decodes to an empty slice, the default is nil.
		rv := reflect.ValueOf(v).Elem()
		var walk func(reflect.Value)
		walk = func(v reflect.Value) {
			switch v.Kind() {
			case reflect.Struct:
				for i := 0; i < v.NumField(); i++ {
					walk(v.Field(i))
				}
			case reflect.Slice:
				if v.Len() == 0 && v.CanSet() {
					v.Set(reflect.Zero(v.Type()))
				}
			}
		}
		walk(rv)
	}
	tests := []struct {
		file     string
		got, def any
	}{
		{"origin.yaml", &originConfig{}, &originConfig{Config: origin.DefaultConfig(), Checkout: checkoutConfig{Config: checkout.Defaults()}, Overlay: overlay.Defaults()}},
		{"edge.yaml", &edgeConfig{}, &edgeConfig{Config: edge.DefaultConfig(), Checkout: checkoutConfig{Config: checkout.Defaults()}, Buyer: defaultBuyerConfig(), Overlay: overlay.Defaults()}},
		{"demo.yaml", &DemoConfig{}, ptr(DefaultDemoConfig())},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			if err := config.LoadFile(filepath.Join(configsDir(t), tc.file), tc.got); err != nil {
				t.Fatal(err)
			}
			normalize(tc.got)
			normalize(tc.def)
			if !reflect.DeepEqual(tc.got, tc.def) {
				t.Fatalf("configs/%s differs from the defaults:\n file     %+v\n defaults %+v", tc.file, tc.got, tc.def)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestShortVariableNames: the short names scripts and deploy files use
// still set their keys, in the nodes and in the demo, and the full name
// wins when both are set.
func TestShortVariableNames(t *testing.T) {
	short := map[string]string{
		"LIVEDROP_REDIS_URL": "redis://short:6379/0", "LIVEDROP_CONTROL_TOKEN": "short-token-0123456789",
		"LIVEDROP_PUBLISH_USER": "cam", "LIVEDROP_PUBLISH_PASSWORD": "pw", "LIVEDROP_RTSP_ADDR": ":9554",
		"LIVEDROP_REGION": "eu-west", "LIVEDROP_NODE_SECRET": testNodeSecret,
	}
	var o originConfig
	if err := config.ApplyEnv(&o, nodeAliases.Lookup(envOf(short))); err != nil {
		t.Fatal(err)
	}
	if o.Checkout.RedisURL != short["LIVEDROP_REDIS_URL"] || o.Checkout.ControlToken != short["LIVEDROP_CONTROL_TOKEN"] ||
		len(o.Access.NodeSecrets) != 1 || o.Access.NodeSecrets[0] != testNodeSecret {
		t.Errorf("origin: redis_url %q, control_token %q", o.Checkout.RedisURL, o.Checkout.ControlToken)
	}
	d, err := loadDemoConfig(nil, Env{Lookup: envOf(short)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Checkout.RedisURL != short["LIVEDROP_REDIS_URL"] || d.Checkout.ControlToken != short["LIVEDROP_CONTROL_TOKEN"] ||
		d.Origin.PublishUser != "cam" || d.Origin.PublishPassword != "pw" || d.Origin.RTSPAddr != ":9554" || d.Edge.Region != "eu-west" ||
		fmt.Sprint(d.Origin.Access.NodeSecrets) != "["+testNodeSecret+"]" || fmt.Sprint(d.Edge.Access.NodeSecrets) != "["+testNodeSecret+"]" {
		t.Errorf("demo did not take the short names: %+v %+v %+v", d.Checkout, d.Origin, d.Edge.Region)
	}
	short["LIVEDROP_CHECKOUT_REDIS_URL"] = "redis://full:6379/0"
	if d, err = loadDemoConfig(nil, Env{Lookup: envOf(short)}); err != nil || d.Checkout.RedisURL != "redis://full:6379/0" {
		t.Errorf("both names set: redis_url %q, %v; want the full name's", d.Checkout.RedisURL, err)
	}
}
