package viewlog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A Keeper makes the origin's viewer history outlive the process: it puts
// a Log's events back into the book at start, then copies the book's new
// events to the Log every interval, and once more when it stops.

// Log is where a book's events are kept across restarts.
type Log interface {
	// Append adds stream's events, in order, after those it has.
	Append(ctx context.Context, stream string, evs []Event) error
	// Load returns every stream's events, oldest first.
	Load(ctx context.Context) (map[string][]Event, error)
}

// KeeperParams build a Keeper.
type KeeperParams struct {
	Book   *Book
	Log    Log
	Logger *slog.Logger
	// Every is how often new events are copied (0: one second): what a
	// SIGKILL of the origin can lose.
	Every time.Duration
	// Grace is how long restored open sessions wait for their edge to say
	// them again before they are ended (0: one minute).
	Grace      time.Duration
	Registerer prometheus.Registerer
}

// Keeper copies a book's events to a Log (see Log).
type Keeper struct {
	p       KeeperParams
	cursor  map[string]int // events of each stream in the Log; Run's
	saved   *prometheus.CounterVec
	pending prometheus.Gauge
}

// NewKeeper returns a keeper; Restore, then Run.
func NewKeeper(p KeeperParams) (*Keeper, error) {
	if p.Book == nil || p.Log == nil || p.Logger == nil {
		return nil, fmt.Errorf("viewlog keeper: book, log and logger are required")
	}
	if p.Every <= 0 {
		p.Every = time.Second
	}
	if p.Grace <= 0 {
		p.Grace = time.Minute
	}
	k := &Keeper{p: p, cursor: map[string]int{},
		saved: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_event_view_events_saved_total",
			Help: "Viewer join/leave events the origin copied to its store (result ok), or failed to copy and will retry (result error)."}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedrop_event_view_events_unsaved",
			Help: "Viewer join/leave events the origin holds that are not in its store yet."}),
	}
	k.saved.WithLabelValues("ok")
	k.saved.WithLabelValues("error")
	if p.Registerer != nil {
		for _, c := range []prometheus.Collector{k.saved, k.pending} {
			if err := p.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

// Restore loads the Log into the book; call it once, before the node takes
// viewer reports.
func (k *Keeper) Restore(ctx context.Context) error {
	all, err := k.p.Log.Load(ctx)
	if err != nil {
		return fmt.Errorf("viewer history: %w", err)
	}
	n := 0
	for stream, evs := range all {
		n += k.p.Book.Restore(stream, evs)
		_, k.cursor[stream] = k.p.Book.Since(stream, 0)
	}
	if n > 0 {
		k.p.Logger.Info("viewer history restored", "streams", len(all), "events", n)
	}
	return nil
}

// Register adds no routes (the keeper has none; its metrics are
// registered by NewKeeper): it makes the keeper an httpnode.Service, which
// the origin runs.
func (k *Keeper) Register(*http.ServeMux) {}

// Run copies new events every interval until ctx ends, then once more; it
// ends the restored sessions nobody said again after the grace.
func (k *Keeper) Run(ctx context.Context) error {
	tick := time.NewTicker(k.p.Every)
	defer tick.Stop()
	grace := time.NewTimer(k.p.Grace)
	defer grace.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			k.flush(fctx)
			return nil
		case <-grace.C:
			for _, stream := range k.p.Book.Streams() {
				k.p.Book.NodeGone(stream, RestoredNode)
			}
		case <-tick.C:
			k.flush(ctx)
		}
	}
}

// flush copies each stream's events past its cursor; a failed stream is
// tried again from the same cursor next time.
func (k *Keeper) flush(ctx context.Context) {
	unsaved := 0
	for _, stream := range k.p.Book.Streams() {
		evs, n := k.p.Book.Since(stream, k.cursor[stream])
		if len(evs) == 0 {
			continue
		}
		if err := k.p.Log.Append(ctx, stream, evs); err != nil {
			k.saved.WithLabelValues("error").Add(float64(len(evs)))
			unsaved += len(evs)
			k.p.Logger.Warn("viewer history not saved; will retry", "stream", stream, "events", len(evs), "err", err)
			continue
		}
		k.cursor[stream] = n
		k.saved.WithLabelValues("ok").Add(float64(len(evs)))
	}
	k.pending.Set(float64(unsaved))
}
