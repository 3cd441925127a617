package app

import (
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
		{"origin.yaml", &originConfig{}, &originConfig{Config: origin.DefaultConfig(), Checkout: checkout.Defaults(), Overlay: overlay.Defaults()}},
		{"edge.yaml", &edgeConfig{}, &edgeConfig{Config: edge.DefaultConfig(), Checkout: checkout.Defaults(), Overlay: overlay.Defaults()}},
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
