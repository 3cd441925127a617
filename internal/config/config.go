// Package config loads a node's configuration: defaults, then a strict YAML
// file, then environment variables, then validation. Every YAML key can be
// overridden by an environment variable named after its path:
// "ice.udp_port" is LIVEDROP_ICE_UDP_PORT.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable that overrides a key.
const EnvPrefix = "LIVEDROP_"

// Validator is a configuration that can check itself. Errors name the key.
type Validator interface {
	Validate() error
}

// Load fills cfg, which must be a pointer to a struct already holding the
// defaults, from the YAML file at path (skipped when path is empty), then
// from the environment given by lookup (os.LookupEnv when nil), and
// validates the result.
func Load(path string, cfg Validator, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if path != "" {
		if err := LoadFile(path, cfg); err != nil {
			return err
		}
	}
	if err := ApplyEnv(cfg, lookup); err != nil {
		return err
	}
	return cfg.Validate()
}

// Decode parses YAML into cfg strictly: an unknown key is an error.
func Decode(data []byte, cfg any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps the defaults
		}
		return err
	}
	return nil
}

// ApplyEnv overrides fields of cfg from environment variables named after
// their YAML key path.
func ApplyEnv(cfg any, lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return errors.New("config: ApplyEnv needs a pointer to a struct")
	}
	return applyEnv(v.Elem(), nil, lookup)
}

// EnvNames lists every environment variable that cfg understands, with the
// YAML key each one overrides.
func EnvNames(cfg any) map[string]string {
	out := map[string]string{}
	walk(reflect.ValueOf(cfg).Elem(), nil, func(_ reflect.Value, path []string) {
		out[envName(path)] = strings.Join(path, ".")
	})
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

func walk(v reflect.Value, path []string, leaf func(reflect.Value, []string)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, inline := yamlKey(f)
		if key == "-" {
			continue
		}
		fv := v.Field(i)
		p := path
		if !inline {
			p = append(append([]string(nil), path...), key)
		}
		if fv.Kind() == reflect.Struct && fv.Type() != durationType {
			walk(fv, p, leaf)
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			continue // lists of objects are set in YAML only
		}
		leaf(fv, p)
	}
}

func applyEnv(v reflect.Value, path []string, lookup func(string) (string, bool)) error {
	var firstErr error
	walk(v, path, func(fv reflect.Value, p []string) {
		if firstErr != nil {
			return
		}
		name := envName(p)
		raw, ok := lookup(name)
		if !ok {
			return
		}
		if err := setValue(fv, raw); err != nil {
			firstErr = fmt.Errorf("%s (from %s): %w", strings.Join(p, "."), name, err)
		}
	})
	return firstErr
}

func envName(path []string) string {
	return EnvPrefix + strings.ToUpper(strings.Join(path, "_"))
}

func yamlKey(f reflect.StructField) (key string, inline bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(opts, "inline") {
		return "", true
	}
	if name == "" {
		return strings.ToLower(f.Name), false
	}
	return name, false
}

func setValue(v reflect.Value, raw string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("not a duration: %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a non-negative integer: %q", raw)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(raw), v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a number: %q", raw)
		}
		v.SetFloat(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// LoadFile decodes the YAML file at path into cfg strictly, without
// environment or validation (for configurations assembled in steps).
func LoadFile(path string, cfg any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := Decode(data, cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Aliases maps the variable named after a key to a shorter name scripts and
// deploy files use for it: {"LIVEDROP_CHECKOUT_REDIS_URL": "LIVEDROP_REDIS_URL"}.
// It is the one alias system of every command.
type Aliases map[string]string

// Lookup wraps lookup (os.LookupEnv when nil) so that a key's variable,
// when unset, answers from its alias: the full name wins when both are set.
func (a Aliases) Lookup(lookup func(string) (string, bool)) func(string) (string, bool) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return func(name string) (string, bool) {
		if v, ok := lookup(name); ok {
			return v, true
		}
		if alias, ok := a[name]; ok {
			return lookup(alias)
		}
		return "", false
	}
}
