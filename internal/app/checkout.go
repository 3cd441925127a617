package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/origin"
	"github.com/livedrop/livedrop/overlay"
)

// checkoutConfig is a node file's checkout section: the domain's settings
// and, beside them, the bearer token of the control HTTP API, which is the
// adapter's setting and so not part of checkout.Config.
type checkoutConfig struct {
	checkout.Config `yaml:",inline"`
	// ControlToken is the bearer token of the control API (origin only).
	ControlToken string `yaml:"control_token"`
}

func (c *checkoutConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.ControlToken != "" && len(c.ControlToken) < checkouthttp.MinTokenLen {
		return fmt.Errorf("checkout.control_token: must be at least %d characters", checkouthttp.MinTokenLen)
	}
	return nil
}

// originConfig is configs/origin.yaml: the origin's keys and its checkout.
type originConfig struct {
	origin.Config `yaml:",inline"`
	Checkout      checkoutConfig `yaml:"checkout"`
	Overlay       overlay.Config `yaml:"overlay"`
}

func (c *originConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.Checkout.Validate(); err != nil {
		return err
	}
	return c.Overlay.Validate()
}

// edgeConfig is configs/edge.yaml: the edge's keys and its checkout.
type edgeConfig struct {
	edge.Config `yaml:",inline"`
	Checkout    checkoutConfig `yaml:"checkout"`
	Overlay     overlay.Config `yaml:"overlay"`
}

func (c *edgeConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.Checkout.Validate(); err != nil {
		return err
	}
	return c.Overlay.Validate()
}

// nodeAliases are the short names scripts and deploy files use for the
// keys of a node that live under checkout.
var nodeAliases = config.Aliases{
	"LIVEDROP_CHECKOUT_REDIS_URL":     "LIVEDROP_REDIS_URL",
	"LIVEDROP_CHECKOUT_CONTROL_TOKEN": "LIVEDROP_CONTROL_TOKEN",
}

// storeProbe bounds and caches the readiness PING of a node's store: one
// PING per second at most, each within half a second.
func storeProbe(store checkout.Store) *checkout.StoreProbe {
	return checkout.NewStoreProbe(store, 500*time.Millisecond, time.Second, time.Now)
}

// edgeCheckout runs the edge's order taking as a node service.
type edgeCheckout struct {
	edge       *checkout.Edge
	api        *checkouthttp.EdgeAPI
	probe      *checkout.StoreProbe
	localFirst bool
}

func (s *edgeCheckout) Register(mux *http.ServeMux)   { s.api.Register(mux) }
func (s *edgeCheckout) Run(ctx context.Context) error { return s.edge.Run(ctx) }

// Ready reports whether the edge has replayed and shipped its journal and
// reaches its store; with checkout.local_first an unreachable store leaves
// it ready (it sells from its leases) and says so.
func (s *edgeCheckout) Ready(ctx context.Context) (bool, string) {
	select {
	case <-s.edge.Ready():
	default:
		return false, "checkout replaying its journal"
	}
	if s.probe.Check(ctx) != nil {
		if s.localFirst {
			return true, "local-first: redis unreachable"
		}
		return false, "redis unreachable"
	}
	return true, ""
}

// controlCheckout runs the seller's drop control as a node service.
type controlCheckout struct {
	ctl   *checkout.Control
	api   *checkouthttp.ControlAPI
	probe *checkout.StoreProbe
}

func (s *controlCheckout) Register(mux *http.ServeMux)   { s.api.Register(mux) }
func (s *controlCheckout) Run(ctx context.Context) error { return s.ctl.Run(ctx) }

// Ready reports whether the store that holds the drops answers.
func (s *controlCheckout) Ready(ctx context.Context) (bool, string) {
	if s.probe.Check(ctx) != nil {
		return false, "redis unreachable"
	}
	return true, ""
}

var (
	_ httpnode.Readier = (*edgeCheckout)(nil)
	_ httpnode.Service = (*edgeCheckout)(nil)
	_ httpnode.Service = (*controlCheckout)(nil)
	_ httpnode.Readier = (*controlCheckout)(nil)
)

func newEdgeCheckout(log *slog.Logger, reg prometheus.Registerer, cfg checkout.Config, store checkout.Store,
	dataDir, edgeID, region string) (*edgeCheckout, error) {
	ce, err := checkout.NewEdge(checkout.EdgeParams{
		Logger: log, Registerer: reg, Config: cfg, DataDir: dataDir, EdgeID: edgeID, Region: region, Store: store,
	})
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	return &edgeCheckout{edge: ce, api: checkouthttp.NewEdgeAPI(ce, log), probe: storeProbe(store), localFirst: cfg.LocalFirst}, nil
}

func newControlCheckout(log *slog.Logger, reg prometheus.Registerer, cfg checkoutConfig, store checkout.Store,
	onState func(drop, state string)) (*controlCheckout, error) {
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: reg, Config: cfg.Config, Store: store, OnDropState: onState})
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	api, err := checkouthttp.NewControlAPI(ctl, cfg.ControlToken, log)
	if err != nil {
		return nil, fmt.Errorf("checkout.%w (where the control API runs)", err)
	}
	return &controlCheckout{ctl: ctl, api: api, probe: storeProbe(store)}, nil
}
