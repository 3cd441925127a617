package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/formats"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/checkout/pickup/pickuphttp"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/checkout/wallet/wallethttp"
	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyerhttp"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/internal/dropphoto"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/proof"
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
	// RSVPLinkBase is the scheme and host of the viewer links RSVP tokens
	// and channel QR signs are issued in (origin only); empty: relative links.
	RSVPLinkBase string `yaml:"rsvp_link_base"`
	// Auction tunes live auctions (auction.go).
	Auction auction.Config `yaml:"auction"`
}

func (c *checkoutConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.ControlToken != "" && len(c.ControlToken) < checkouthttp.MinTokenLen {
		return fmt.Errorf("checkout.control_token: must be at least %d characters", checkouthttp.MinTokenLen)
	}
	if err := checkouthttp.ValidRSVPLinkBase(c.RSVPLinkBase); err != nil {
		return fmt.Errorf("checkout.rsvp_link_base: %w", err)
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

// exposure lists what a public origin leaves unprotected: the origin's
// keys, and a checkout without a control token (the control API).
func (c *originConfig) exposure() error {
	err := c.Config.Exposure()
	if c.Checkout.UsesRedis() && c.Checkout.ControlToken == "" && origin.PublicAddr(c.HTTPAddr) {
		err = errors.Join(err, fmt.Errorf("checkout.control_token: empty on the public http_addr %q", c.HTTPAddr))
	}
	return err
}

// edgeConfig is configs/edge.yaml: the edge's keys, its checkout and its
// buyers' sign-in.
type edgeConfig struct {
	edge.Config `yaml:",inline"`
	Checkout    checkoutConfig `yaml:"checkout"`
	Buyer       buyerConfig    `yaml:"buyer"`
	Overlay     overlay.Config `yaml:"overlay"`
}

func (c *edgeConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.Checkout.Validate(); err != nil {
		return err
	}
	if err := c.Buyer.Validate(); err != nil {
		return err
	}
	return c.Overlay.Validate()
}

// nodeAliases are the short names scripts and deploy files use for the
// keys of a node that live under checkout.
var nodeAliases = config.Aliases{
	"LIVEDROP_CHECKOUT_REDIS_URL":     "LIVEDROP_REDIS_URL",
	"LIVEDROP_CHECKOUT_CONTROL_TOKEN": "LIVEDROP_CONTROL_TOKEN",
	"LIVEDROP_ACCESS_NODE_SECRETS":    "LIVEDROP_NODE_SECRET",
	"LIVEDROP_BUYER_SESSION_SECRETS":  "LIVEDROP_SESSION_SECRET",
}

// newGuard builds the failure budget of an origin process: RTSP
// credentials and the control token cost the same addresses' budgets.
func newGuard(log *slog.Logger, reg prometheus.Registerer, cfg guard.Config) (*guard.Guard, error) {
	m, err := guard.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return guard.New(guard.Params{Config: cfg, Logger: log, Metrics: m})
}

// storeProbe bounds and caches the readiness PING of a node's store: one
// PING per second at most, each within half a second.
func storeProbe(store checkout.Store) *checkout.StoreProbe {
	return checkout.NewStoreProbe(store, 500*time.Millisecond, time.Second, time.Now)
}

// edgeCheckout runs the edge's order taking as a node service, with the
// buyers' sign-in whose sessions every order presents.
type edgeCheckout struct {
	edge       *checkout.Edge
	api        *checkouthttp.EdgeAPI
	buyers     *buyerSignIn
	gate       *proof.Gate
	probe      *checkout.StoreProbe
	localFirst bool
	pickup     *pickuphttp.CodeAPI // pickup.go; nil without node secrets
	notices    *pickup.Notifier    // pickup.go; nil without node secrets
	photos     dropphoto.Store     // photos.go; nil: none served
	wallet     *wallethttp.EdgeAPI
	pay        checkout.PaymentProvider // wallet.go: the wallet, then the card; auction bids pay through it too
}

func (s *edgeCheckout) Register(mux *http.ServeMux) {
	s.api.Register(mux)
	s.buyers.Register(mux)
	if s.pickup != nil {
		s.pickup.Register(mux)
	}
	if s.photos != nil {
		checkouthttp.ServePhotos(mux, s.photos, nil) // the product card's photo
	}
	s.wallet.Register(mux)
}
func (s *edgeCheckout) Run(ctx context.Context) error {
	if s.notices != nil {
		var wg sync.WaitGroup
		nctx, cancel := context.WithCancel(ctx)
		wg.Go(func() { _ = s.notices.Run(nctx) }) // mails pickup codes
		defer wg.Wait()
		defer cancel()
	}
	return s.edge.Run(ctx)
}

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

// controlCheckout runs the seller's drop control as a node service, with
// the seller's member list beside it.
type controlCheckout struct {
	ctl     *checkout.Control
	api     *checkouthttp.ControlAPI
	members *buyerhttp.MembersAPI
	probe   *checkout.StoreProbe
	desks   *pickuphttp.DeskAPI // pickup.go; nil without node secrets
	wallet  *wallethttp.ControlAPI
	formats formats.Params           // formats.go: the report's stores, lots and giveaways added there
	holds   *wallet.Reconciler       // wallet.go: holds nothing will settle
	pay     checkout.PaymentProvider // wallet.go: the wallet, then the card; won lots pay through it too
}

func (s *controlCheckout) Register(mux *http.ServeMux) {
	s.api.Register(mux)
	s.members.Register(mux)
	if s.desks != nil {
		s.desks.Register(mux)
	}
	s.wallet.Register(mux)
}
func (s *controlCheckout) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.api.Run(ctx) }) // closes the live order feeds
	wg.Go(func() { _ = s.holds.Run(ctx) })
	defer wg.Wait()
	return s.ctl.Run(ctx)
}

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

// orderTokenKeys derives the keys of order tokens from the node secrets,
// so every edge mints the same token for an order, and a token says
// nothing of the secret.
func orderTokenKeys(nodeSecrets []string) [][]byte {
	keys := make([][]byte, 0, len(nodeSecrets))
	for _, s := range nodeSecrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte("livedrop order token key"))
		keys = append(keys, m.Sum(nil))
	}
	return keys
}

// rsvpKeys derives the keys of RSVP tokens from the node secrets the
// origin and its edges share: the origin signs, every edge verifies, and
// they rotate with the node secrets. No secret: no RSVP tokens (nil).
func rsvpKeys(nodeSecrets []string) (*checkout.RSVPKeys, error) {
	if len(nodeSecrets) == 0 {
		return nil, nil
	}
	keys := make([][]byte, 0, len(nodeSecrets))
	for _, s := range nodeSecrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte("livedrop rsvp token key"))
		keys = append(keys, m.Sum(nil))
	}
	k, err := checkout.NewRSVPKeys(nil, keys...)
	if err != nil {
		return nil, fmt.Errorf("access.node_secrets: %w", err)
	}
	return k, nil
}

func newEdgeCheckout(log *slog.Logger, reg prometheus.Registerer, cfg checkout.Config, bc buyerConfig, store checkout.Store, bs buyer.Store,
	dataDir, edgeID, region string, nodeSecrets []string, proofCfg proof.Config, ws wallet.Store) (*edgeCheckout, error) {
	tokens, err := checkouthttp.NewOrderTokens(orderTokenKeys(nodeSecrets)...)
	if err != nil {
		return nil, fmt.Errorf("access.node_secrets: %w", err)
	}
	gate, err := proof.New(proof.Params{Config: proofCfg, NodeSecrets: nodeSecrets, Registerer: reg})
	if err != nil {
		return nil, err
	}
	rsvp, err := rsvpKeys(nodeSecrets)
	if err != nil {
		return nil, err
	}
	wl, err := newNodeWallet(log, reg, cfg, ws) // wallet.go
	if err != nil {
		return nil, err
	}
	ce, err := checkout.NewEdge(checkout.EdgeParams{
		Logger: log, Registerer: reg, Config: cfg, DataDir: dataDir, EdgeID: edgeID, Region: region, Store: store, RSVP: rsvp,
		Payment: wl.payments,
	})
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	buyers, err := newBuyerSignIn(log, reg, bc, bs, region)
	if err != nil {
		return nil, err
	}
	api, err := checkouthttp.NewEdgeAPI(checkouthttp.EdgeParams{Edge: ce, Tokens: tokens, Sessions: buyers.sessions,
		Orders: ce, Logger: log}) // the edge's index of a buyer's orders
	if err != nil {
		return nil, err
	}
	api.SetGate(gate)
	// A buyer who signs in (or whose page shows its kept session) has its
	// purchase limits leased before the first tap.
	buyers.api.OnSession(func(s buyer.Session, ip string) { ce.Prepare(s.Buyer, s.Device, ip) })
	codes, err := newCodeAPI(log, ce, tokens, nodeSecrets)
	if err != nil {
		return nil, err
	}
	notices, err := newPickupNotifier(log, reg, bc, store, bs, nodeSecrets)
	if err != nil {
		return nil, err
	}
	if notices != nil {
		api.OnPlaced(notices.Notify)
	}
	return &edgeCheckout{edge: ce, api: api, buyers: buyers, gate: gate, probe: storeProbe(store), localFirst: cfg.LocalFirst,
		pickup: codes, notices: notices, photos: photoStore(store), wallet: wl.edgeAPI(log, cfg, buyers.sessions), pay: wl.payments}, nil
}

// proofs are what the edge serves for gated drops, when checkout is on.
func (s *edgeCheckout) proofs() edge.Proofs {
	if s == nil {
		return edge.Proofs{}
	}
	return edge.Proofs{Gate: s.gate, BuyerOf: s.proofBuyer}
}

// proofBuyer is who asks for a watch proof or a challenge: the buyer of
// the request's session (Authorization: Bearer), as for an order, so a
// proof vouches for the buyer who then orders with it.
func (s *edgeCheckout) proofBuyer(r *http.Request) (string, error) {
	tok, _ := jsonhttp.BearerToken(r)
	sess, err := s.buyers.sessions.Verify(tok)
	if err != nil {
		return "", err
	}
	return sess.Buyer, nil
}

func newControlCheckout(log *slog.Logger, reg prometheus.Registerer, cfg checkoutConfig, store checkout.Store, bs buyer.Store,
	onState func(drop, state string), g *guard.Guard, nodeSecrets []string, ws wallet.Store) (*controlCheckout, error) {
	rsvp, err := rsvpKeys(nodeSecrets)
	if err != nil {
		return nil, err
	}
	wl, err := newNodeWallet(log, reg, cfg.Config, ws) // wallet.go: a wallet order's refund goes back to the wallet
	if err != nil {
		return nil, err
	}
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: reg, Config: cfg.Config, Store: store, OnDropState: onState,
		RSVP: rsvp, Payment: wl.payments})
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	api, err := checkouthttp.NewControlAPI(ctl, cfg.ControlToken, log, g)
	if err != nil {
		return nil, fmt.Errorf("checkout.%w (where the control API runs)", err)
	}
	api.SetRSVPLinkBase(cfg.RSVPLinkBase)
	api.SetConsents(func(ctx context.Context, from, to time.Time) (checkouthttp.ConsentCounts, error) { // the report's new emails with consent
		c, err := bs.Counts(ctx, from, to)
		return checkouthttp.ConsentCounts{Total: c.MarketingConsents, ByChannel: c.ConsentsByChannel, ByRegion: c.ConsentsByRegion}, err
	})
	if ps := photoStore(store); ps != nil {
		if err := api.SetPhotos(ps, reg); err != nil {
			return nil, fmt.Errorf("checkout photos: %w", err)
		}
	}
	members, err := buyerhttp.NewMembersAPI(buyer.NewMembers(bs), cfg.ControlToken, log, g)
	if err != nil {
		return nil, fmt.Errorf("checkout.%w (where the members API runs)", err)
	}
	ps := pickupStore(store) // one for the desks and the report (formats.go)
	desks, err := newDeskAPI(log, reg, ctl, ps, nodeSecrets, cfg.ControlToken, g)
	if err != nil {
		return nil, err
	}
	codes, err := pickupCodes(nodeSecrets)
	if err != nil {
		return nil, err
	}
	wapi, err := wl.controlAPI(log, reg, cfg.Config, cfg.ControlToken, g)
	if err != nil {
		return nil, err
	}
	return &controlCheckout{ctl: ctl, api: api, members: members, probe: storeProbe(store), desks: desks, wallet: wapi,
		formats: formats.Params{Wallet: ws, Pickups: ps, Orders: ctl, Codes: codes},
		holds:   wl.reconciler(log, cfg.Config, store), pay: wl.payments}, nil
}
