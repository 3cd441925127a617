package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/livedrop/livedrop/checkout/loadgen"
)

const loadgenUsage = `Usage:
  livedrop loadgen buyers --edge URL [--edge URL ...] --drop ID --sku SKU [flags]

Buyers place one order each, concurrently, spread over the edges; the JSON
summary on stdout counts accepted, sold out and failed orders, gives the
latency p50/p99, and checks the totals of GET /v1/drops/{id} against what
buyers were told.
`

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runLoadgen(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "buyers" {
		fmt.Fprint(env.Stderr, loadgenUsage)
		return ErrUsage
	}
	fs := flag.NewFlagSet("loadgen buyers", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var (
		p     loadgen.Params
		edges stringList
	)
	fs.Var(&edges, "edge", "edge base URL, e.g. http://127.0.0.1:8080 (repeat for several)")
	fs.StringVar(&p.Drop, "drop", "", "drop id")
	fs.StringVar(&p.SKU, "sku", "", "SKU to buy")
	fs.IntVar(&p.Buyers, "buyers", 1000, "buyers, one order each")
	fs.IntVar(&p.Concurrency, "concurrency", 0, "buyers in flight at once (0: all)")
	fs.IntVar(&p.Qty, "qty", 1, "units per order")
	fs.IntVar(&p.ConnsPerEdge, "conns-per-edge", 0, "HTTP connections per edge (0: 256)")
	fs.DurationVar(&p.Timeout, "timeout", 10*time.Second, "timeout of one request")
	fs.StringVar(&p.ControlToken, "control-token", "", "bearer token for reading totals at the origin control API")
	fs.StringVar(&p.BuyerPrefix, "buyer-prefix", "buyer", "buyer names are PREFIX-N")
	if err := fs.Parse(args[1:]); err != nil {
		return ErrUsage
	}
	p.Edges = edges
	if len(p.Edges) == 0 || p.Drop == "" || p.SKU == "" || p.Buyers < 1 {
		fmt.Fprintln(env.Stderr, "loadgen buyers: --edge, --drop and --sku are required, and --buyers must be >= 1")
		return ErrUsage
	}
	sum, err := loadgen.RunBuyers(ctx, p)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("loadgen: %w", err)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sum); err != nil {
		return err
	}
	if !sum.Consistency.OK {
		return fmt.Errorf("loadgen: totals do not balance: %s", sum.Consistency.Problem)
	}
	return nil
}
