package app

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/checkout/wallet/wallethttp"
	"github.com/livedrop/livedrop/internal/guard"
)

// walletStore is the wallet store on the checkout store's backing: Redis
// keys beside the drops', or memory beside the embedded store (the demo
// builds it once, so its origin refunds into its edge's wallets).
func walletStore(store checkout.Store) wallet.Store {
	if rs, ok := store.(*checkout.RedisStore); ok {
		return wallet.NewRedisStore(rs.Client())
	}
	return wallet.NewMemStore()
}

// nodeWallet is a node's wallet: the payment provider that pays wallet
// orders from it (and card orders through the configured provider).
type nodeWallet struct {
	store    wallet.Store
	metrics  *wallet.Metrics
	card     checkout.PaymentProvider
	payments *wallet.Payments
}

func newNodeWallet(log *slog.Logger, reg prometheus.Registerer, cfg checkout.Config, ws wallet.Store) (*nodeWallet, error) {
	m, err := wallet.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	card := checkout.NewTestProvider(cfg.Payment)
	return &nodeWallet{store: ws, metrics: m, card: card, payments: wallet.NewPayments(card, ws, m, time.Now, log)}, nil
}

// edgeAPI serves buyers their wallets with the sessions of orders.
func (w *nodeWallet) edgeAPI(log *slog.Logger, cfg checkout.Config, sessions wallethttp.Sessions) *wallethttp.EdgeAPI {
	return wallethttp.NewEdgeAPI(wallet.NewWallets(w.store, w.card, w.metrics, time.Now), sessions, cfg.StoreTimeout, log)
}

// controlAPI serves the seller the wallet liability, also as a gauge.
func (w *nodeWallet) controlAPI(log *slog.Logger, reg prometheus.Registerer, cfg checkout.Config, token string, g *guard.Guard) (*wallethttp.ControlAPI, error) {
	if err := reg.Register(wallet.NewLiabilityCollector(w.store, cfg.StoreTimeout)); err != nil {
		return nil, err
	}
	return wallethttp.NewControlAPI(w.store, token, g, cfg.StoreTimeout, log), nil
}

// reconcileEvery is how often the origin looks for wallet holds nothing
// will settle.
const reconcileEvery = 30 * time.Second

// reconciler gives back, at the origin, the wallet holds of orders over
// unpaid or never accepted: a hold older than an order waits for its
// payment (twice the hold time, plus a lease's life for an order sold
// from a lease and shipped late).
func (w *nodeWallet) reconciler(log *slog.Logger, cfg checkout.Config, orders wallet.Orders) *wallet.Reconciler {
	return wallet.NewReconciler(w.store, orders, 2*cfg.HoldTime+cfg.LeaseTTL, reconcileEvery, time.Now, w.metrics, log)
}
