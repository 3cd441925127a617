// Package app turns command lines into running nodes: it loads and
// validates configuration, builds the origin, the edge and the demo, and
// runs them until their context ends.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Env is what a command sees of its process.
type Env struct {
	Stdout, Stderr io.Writer
	// Lookup reads environment variables (os.LookupEnv when nil).
	Lookup func(string) (string, bool)
	// Ready, when set, is told the addresses once the nodes listen (tests).
	Ready func(Addrs)
}

// Addrs are where a command's nodes listen.
type Addrs struct {
	OriginHTTP, OriginRTSP, EdgeHTTP string
}

func (e Env) lookup() func(string) (string, bool) {
	if e.Lookup != nil {
		return e.Lookup
	}
	return os.LookupEnv
}

const usage = `livedrop: live-commerce streaming server

Usage:
  livedrop origin  [--config FILE] [--insecure]   ingest RTSP, serve WHEP to edges, control API
                   (--insecure: run on a public address without read credentials)
  livedrop edge    [--config FILE]   serve viewers: page, WHEP, orders
  livedrop demo    [--config FILE]   origin + edge + built-in camera in one process
  livedrop loadgen viewers --url URL -n N [...]   WHEP viewers: first keyframe, loss, CPU of --pid
  livedrop loadgen buyers --edge URL --drop ID --sku SKU [...]   concurrent buyers, JSON summary
  livedrop version

Every configuration key can be set by an environment variable:
LIVEDROP_ + the key's path in upper case, e.g. LIVEDROP_HTTP_ADDR, LIVEDROP_ICE_PUBLIC_IPS.
`

// ErrUsage is returned for a command line that cannot be run.
var ErrUsage = errors.New("usage")

// Main runs the command in args (without the program name).
func Main(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ErrUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "origin":
		return runOrigin(ctx, rest, env)
	case "edge":
		return runEdge(ctx, rest, env)
	case "demo":
		return runDemo(ctx, rest, env)
	case "loadgen":
		return runLoadgen(ctx, rest, env)
	case "version":
		fmt.Fprintln(env.Stdout, "livedrop", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprintf(env.Stderr, "unknown command %q\n\n%s", cmd, usage)
	return ErrUsage
}

// Version is set at build time with -ldflags "-X ...app.Version=...".
var Version = "dev"

// nodeFlags are a node command's flags.
type nodeFlags struct {
	config string
	// insecure lets an origin run on a public address without credentials
	// (origin only).
	insecure bool
}

// parseFlags reads --config, and --insecure for the origin.
func parseFlags(name string, args []string, env Env) (nodeFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var f nodeFlags
	fs.StringVar(&f.config, "config", "", "YAML configuration file (defaults apply when omitted)")
	if name == "origin" {
		fs.BoolVar(&f.insecure, "insecure", false, "run even when a public http_addr or rtsp_addr is left without credentials")
	}
	if err := fs.Parse(args); err != nil {
		return nodeFlags{}, ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return nodeFlags{}, ErrUsage
	}
	return f, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
