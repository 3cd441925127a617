package app

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/overlay"
)

// followStamps starts an origin overlay hub whose cam1 clock reads 4242
// and the stamper newStamper builds on it, subscribes an edge to cam1 and
// makes probes (probe(ctx, i), i = 0, 1, ...) until one reaches the edge:
// the stamper then follows the store. It returns the context the test's
// store calls use, the edge and the edge's next message (the test fails
// when none comes within 5 s); all of it stops when the test ends.
func followStamps(t *testing.T, what string, newStamper func(*overlay.OriginHub) interface{ Run(context.Context) error },
	probe func(ctx context.Context, i int)) (context.Context, <-chan []byte, func() overlay.Message) {
	t.Helper()
	hub, err := overlay.NewOriginHub(overlay.OriginParams{Registerer: prometheus.NewRegistry(), Config: overlay.Defaults(),
		Drops: noDrops{}, MediaClock: func(stream string) (uint32, bool) { return 4242, stream == "cam1" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stamper := newStamper(hub)
	done := make(chan struct{}, 2)
	go func() { _ = hub.Run(ctx); done <- struct{}{} }()
	go func() { _ = stamper.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	edge, stop := hub.Subscribe("cam1")
	t.Cleanup(stop)
	<-edge // state

	next := func() overlay.Message {
		t.Helper()
		select {
		case b := <-edge:
			m, err := overlay.DecodeMessage(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			return m
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event within 5 s", what)
		}
		return overlay.Message{}
	}
	// The subscription goes live in its own time: probe until one reaches
	// the edge.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		probe(ctx, i)
		select {
		case <-edge:
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the stamper never followed the store")
			}
			continue
		}
		break
	}
	for len(edge) > 0 {
		<-edge
	}
	return ctx, edge, next
}
