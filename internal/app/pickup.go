package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/checkout/pickup/pickuphttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/guard"
)

// The pickup desks' wiring: the code key both sides derive from the node
// secrets, the collections store beside the drops, the origin's desk API
// and the edge's code read.

// pickupCodes derives the pickup code key from the first node secret, so
// the edge that confirms an order and the origin a desk syncs with name it
// by the same code. No secret: no pickup codes (nil).
func pickupCodes(nodeSecrets []string) (*pickup.Codes, error) {
	if len(nodeSecrets) == 0 {
		return nil, nil
	}
	m := hmac.New(sha256.New, []byte(nodeSecrets[0]))
	m.Write([]byte("livedrop pickup code key"))
	return pickup.NewCodes(m.Sum(nil))
}

// pickupStore keeps collections on the checkout store's backing: Redis
// beside the drops, or memory beside the embedded store.
func pickupStore(store checkout.Store) pickup.Store {
	if rs, ok := store.(*checkout.RedisStore); ok {
		return pickup.NewRedisStore(rs.Client())
	}
	return pickup.NewMemStore()
}

// newDeskAPI builds the origin's pickup routes on ps (nil without node
// secrets).
func newDeskAPI(log *slog.Logger, reg prometheus.Registerer, ctl *checkout.Control, ps pickup.Store,
	nodeSecrets []string, token string, g *guard.Guard) (*pickuphttp.DeskAPI, error) {
	codes, err := pickupCodes(nodeSecrets)
	if err != nil || codes == nil {
		return nil, err
	}
	desks, err := pickup.NewDesks(pickup.Params{Orders: ctl, Codes: codes, Store: ps, Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	return pickuphttp.NewDeskAPI(desks, token, g, log)
}

// newCodeAPI builds the edge's read of an order's pickup code.
func newCodeAPI(log *slog.Logger, ce *checkout.Edge, tokens *checkouthttp.OrderTokens, nodeSecrets []string) (*pickuphttp.CodeAPI, error) {
	codes, err := pickupCodes(nodeSecrets)
	if err != nil || codes == nil {
		return nil, err
	}
	return pickuphttp.NewCodeAPI(ce, tokens, codes, log)
}

// newPickupNotifier mails pickup codes from the edge through the buyer's
// relay (the log without one), to the email of the buyer's record (nil
// without node secrets).
func newPickupNotifier(log *slog.Logger, reg prometheus.Registerer, bc buyerConfig, store checkout.Store, bs buyer.Store,
	nodeSecrets []string) (*pickup.Notifier, error) {
	codes, err := pickupCodes(nodeSecrets)
	if err != nil || codes == nil {
		return nil, err
	}
	emails, ok := bs.(pickup.Emails)
	if !ok {
		return nil, nil
	}
	var mailer pickup.Mailer = pickup.NewLogMailer(log)
	if bc.SMTP.Addr != "" {
		if mailer, err = buyermail.New(bc.SMTP, nil); err != nil {
			return nil, err
		}
	}
	return pickup.NewNotifier(pickup.NotifierParams{Codes: codes, Store: pickupStore(store), Mailer: mailer, Emails: emails,
		Registerer: reg, Logger: log,
		MaxAttempts: bc.PickupMail.Attempts, RetryBase: bc.PickupMail.RetryBase, RetryMax: bc.PickupMail.RetryMax})
}
