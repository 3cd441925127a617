package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/livedrop/livedrop/internal/loadgen"
	"github.com/livedrop/livedrop/internal/viewerload"
)

const loadgenUsage = `Usage:
  livedrop loadgen viewers --url WHEP_URL -n N [--ramp 10s] [--duration 30s] [--pid PID] [--no-gro] [--json]
  livedrop loadgen buyers --edge URL [--edge URL ...] --drop ID --sku SKU [flags]

Viewers are receive-only WHEP sessions (any WHEP server): the summary gives
sessions up, time to first keyframe p50/p95/p99, packets, bytes, sequence
gaps, and with --pid the CPU that process spent per viewer-second and per
delivered packet over the steady window. Viewer sockets take coalesced
datagrams (UDP GRO) unless --no-gro: on loopback a server's GSO datagrams
are then not split into packets in the server's CPU time.

Buyers first sign in as guests (POST /v1/signin/guest at their first edge,
on connections closed before the burst; "sign_in" in the summary says what
it cost), then place one order each, released together, spread over the edges;
with --cold every request opens a fresh TCP connection, as a crowd of new
buyers does; with --retries N each buyer repeats its order N times with the
same Idempotency-Key (odd retries to the next edge) and follows "held, try
again" answers. The JSON summary on stdout counts first and final answers,
gives first-answer latency p50/p99 by status, counts keys that got
contradicting answers (the contract says zero), and checks the totals of
GET /v1/drops/{id} against what buyers were told.

A gated drop: with --pow each buyer fetches a challenge of its edge and
solves it before the burst (an order refused for a stale challenge solves a
fresh one once, as the viewer page does); with --watch-stream NAME
--watch-for 5s each buyer watches NAME over WHEP at its edge until the edge
signs a watch proof of that long. "gate" in the summary says what it cost.
`

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runLoadgen(ctx context.Context, args []string, env Env) error {
	if len(args) > 0 && args[0] == "viewers" {
		return runViewerLoad(ctx, args[1:], env)
	}
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
	fs.IntVar(&p.ConnsPerEdge, "conns-per-edge", 0, "HTTP connections per edge (0: 256; ignored with --cold)")
	fs.BoolVar(&p.Cold, "cold", false, "every request on a fresh TCP connection (no keep-alive)")
	fs.IntVar(&p.Retries, "retries", 0, "retries per buyer with the same Idempotency-Key, odd ones to the next edge")
	fs.StringVar(&p.TotalsURL, "totals-url", "", "base URL to read the drop's totals from (default: the first --edge)")
	fs.DurationVar(&p.Timeout, "timeout", 10*time.Second, "timeout of one request")
	fs.StringVar(&p.ControlToken, "control-token", "", "bearer token for reading totals at the origin control API")
	fs.StringVar(&p.BuyerPrefix, "buyer-prefix", "buyer", "buyers' Idempotency-Keys are lg-PREFIX-N")
	fs.BoolVar(&p.Gate.ProofOfWork, "pow", false, "the drop asks a proof of work: each buyer solves a challenge of its edge before the burst")
	fs.StringVar(&p.Gate.WatchStream, "watch-stream", "", "the drop asks watch time: each buyer watches this stream over WHEP at its edge before the burst")
	fs.DurationVar(&p.Gate.WatchFor, "watch-for", 0, "with --watch-stream: how long each buyer watches (the drop's gate.watch_seconds)")
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
	if sum.Contradictions > 0 {
		return fmt.Errorf("loadgen: %d keys got contradicting answers, e.g. %v", sum.Contradictions, sum.ContradictionSamples)
	}
	if !sum.Consistency.OK {
		return fmt.Errorf("loadgen: totals do not balance: %s", sum.Consistency.Problem)
	}
	return nil
}

func runViewerLoad(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("loadgen viewers", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var p viewerload.Params
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	fs.StringVar(&p.URL, "url", "", "WHEP endpoint, e.g. http://127.0.0.1:8080/whep/demo")
	fs.IntVar(&p.Viewers, "n", 100, "viewers to open")
	fs.DurationVar(&p.Ramp, "ramp", 10*time.Second, "spread the session starts over this time")
	fs.DurationVar(&p.Duration, "duration", 30*time.Second, "hold all sessions this long after the ramp")
	fs.IntVar(&p.PID, "pid", 0, "measure this process's CPU over the steady window")
	fs.BoolVar(&p.NoGRO, "no-gro", false, "viewer sockets take packets one by one, not coalesced (UDP GRO); on loopback the server's kernel then splits its GSO datagrams")
	if err := fs.Parse(args); err != nil {
		return ErrUsage
	}
	if p.URL == "" || p.Viewers < 1 {
		fmt.Fprintln(env.Stderr, "loadgen viewers: --url is required and -n must be >= 1")
		return ErrUsage
	}
	sum, err := viewerload.Run(ctx, p)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("loadgen: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(env.Stdout, "sessions up %d/%d (failed %d %v)\n", sum.SessionsUp, sum.Viewers, sum.SessionsFailed, sum.Errors)
	fmt.Fprintf(env.Stdout, "first keyframe ms: p50 %.1f p95 %.1f p99 %.1f max %.1f (%d sessions without one)\n",
		sum.FirstKeyframeMs.P50, sum.FirstKeyframeMs.P95, sum.FirstKeyframeMs.P99, sum.FirstKeyframeMs.Max, sum.NoKeyframe)
	fmt.Fprintf(env.Stdout, "  of which setup (offer to first packet) p50 %.1f p99 %.1f, waiting for a keyframe after it p50 %.1f p99 %.1f\n",
		sum.FirstPacketMs.P50, sum.FirstPacketMs.P99, sum.KeyframeWaitMs.P50, sum.KeyframeWaitMs.P99)
	fmt.Fprintf(env.Stdout, "packets video %d audio %d, bytes %d, sequence gaps %d (%.3f%%)\n",
		sum.VideoPackets, sum.AudioPackets, sum.Bytes, sum.SequenceGaps, sum.LossPercent)
	fmt.Fprintf(env.Stdout, "steady window %.1fs: %.0f packets/s delivered\n", sum.WindowSeconds, sum.PacketsPerSecond)
	if p.PID > 0 {
		fmt.Fprintf(env.Stdout, "target pid %d: %.2f CPU-s, %.2f CPU-ms per viewer-second, %.2f us per packet, RSS %.0f MiB\n",
			p.PID, sum.TargetCPUSeconds, sum.TargetCPUMsPerViewS, sum.TargetCPUUsPerPkt, sum.TargetRSSMiB)
	}
	return nil
}
