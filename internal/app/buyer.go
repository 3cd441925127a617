package app

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyerhttp"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/guard"
)

// buyerConfig is a node file's buyer section: sign-in and sessions, and
// beside them the mail relay, which is the mailer's setting.
type buyerConfig struct {
	buyer.Config `yaml:",inline"`
	SMTP         buyermail.Config `yaml:"smtp"`
	// PickupMail bounds the retries of a pickup code email (pickup.go).
	PickupMail pickup.MailConfig `yaml:"pickup_mail"`
}

func defaultBuyerConfig() buyerConfig {
	return buyerConfig{Config: buyer.Defaults(), SMTP: buyermail.Defaults(), PickupMail: pickup.MailDefaults()}
}

func (c *buyerConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.SMTP.Validate(); err != nil {
		return err
	}
	return c.PickupMail.Validate()
}

// buyerSignIn is an edge's sign-in: the sessions orders are checked
// against, and the routes that issue them.
type buyerSignIn struct {
	sessions *buyer.Sessions
	signin   *buyer.SignIn
	api      *buyerhttp.API
}

func (b *buyerSignIn) Register(mux *http.ServeMux) { b.api.Register(mux) }

// buyerStore is the buyer store on the checkout store's backing: Redis
// keys beside the drops', or memory beside the embedded store (the demo
// builds it once, so its origin's member list is its edge's).
func buyerStore(store checkout.Store) buyer.Store {
	if rs, ok := store.(*checkout.RedisStore); ok {
		return buyer.NewRedisStore(rs.Client())
	}
	return buyer.NewMemStore(nil)
}

// newBuyerSignIn builds sign-in on the buyer store bs at an edge of region.
func newBuyerSignIn(log *slog.Logger, reg prometheus.Registerer, cfg buyerConfig, bs buyer.Store, region string) (*buyerSignIn, error) {
	if err := cfg.RequireSecrets(); err != nil {
		return nil, err
	}
	m, err := buyer.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	sessions, err := buyer.NewSessions(cfg.SessionSecrets, cfg.SessionTTL, nil, m)
	if err != nil {
		return nil, err
	}
	var mailer buyer.Mailer
	if cfg.SMTP.Addr == "" {
		log.Warn("buyer.smtp.addr is empty: email sign-in codes are written to this log (set LIVEDROP_BUYER_SMTP_ADDR to mail them)")
		mailer = buyer.NewLogMailer(log)
	} else if mailer, err = buyermail.New(cfg.SMTP, nil); err != nil {
		return nil, err
	}
	g, err := newGuard(log, reg, guard.Defaults())
	if err != nil {
		return nil, err
	}
	signin, err := buyer.NewSignIn(buyer.Params{Config: cfg.Config, Sessions: sessions, Store: bs, Mailer: mailer, Guard: g, Metrics: m, Logger: log, Region: region})
	if err != nil {
		return nil, fmt.Errorf("buyer: %w", err)
	}
	return &buyerSignIn{sessions: sessions, signin: signin, api: buyerhttp.New(signin, log)}, nil
}
