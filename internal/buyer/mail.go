package buyer

import (
	"context"
	"log/slog"
	"time"
)

// Mailer delivers a sign-in code to an email address.
type Mailer interface {
	SendCode(ctx context.Context, to, code string, ttl time.Duration) error
}

// LogMailer writes codes to the log instead of mailing them: the demo's
// and a node's without a mail relay. It is the only place a code is logged.
type LogMailer struct {
	log *slog.Logger
}

// NewLogMailer logs codes to logger.
func NewLogMailer(logger *slog.Logger) *LogMailer {
	return &LogMailer{log: logger.With("component", "buyer-mail")}
}

// SendCode implements Mailer.
func (m *LogMailer) SendCode(_ context.Context, to, code string, ttl time.Duration) error {
	m.log.Info("sign-in code (no mail relay configured: codes are written here)", "to", to, "code", code, "expires_in", ttl)
	return nil
}
