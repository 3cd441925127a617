// Package buyermail mails buyers their sign-in codes through an SMTP relay
// (net/smtp: STARTTLS, implicit TLS or plain, with optional PLAIN auth).
package buyermail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
)

// TLS modes of the relay connection.
const (
	// StartTLS upgrades the connection with STARTTLS and refuses a relay
	// that does not offer it (port 587).
	StartTLS = "starttls"
	// Implicit speaks TLS from the first byte (SMTPS, port 465).
	Implicit = "implicit"
	// None sends in the clear: a relay on this host or a private network.
	None = "none"
)

// Config is the relay (the buyer.smtp: block).
type Config struct {
	// Addr is the relay's host:port; empty: no relay, codes are written
	// to the log.
	Addr string `yaml:"addr"`
	// From is the sender address of the codes.
	From string `yaml:"from"`
	// Username and Password authenticate with PLAIN (both or neither).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS is starttls, implicit or none.
	TLS string `yaml:"tls"`
	// Timeout bounds one delivery, dial to QUIT.
	Timeout time.Duration `yaml:"timeout"`
}

// Defaults returns the shipped settings: no relay.
func Defaults() Config {
	return Config{From: "livedrop <no-reply@localhost>", TLS: StartTLS, Timeout: 10 * time.Second}
}

// Validate checks the block; errors name the key under buyer.smtp.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("buyer.smtp.addr: %q is not host:port", c.Addr)
	}
	if _, err := mail.ParseAddress(c.From); err != nil || strings.ContainsAny(c.From, "\r\n") {
		return fmt.Errorf("buyer.smtp.from: %q is not an address", c.From)
	}
	switch c.TLS {
	case StartTLS, Implicit, None:
	default:
		return fmt.Errorf("buyer.smtp.tls: %q is not starttls, implicit or none", c.TLS)
	}
	if (c.Username == "") != (c.Password == "") {
		return errors.New("buyer.smtp.username, buyer.smtp.password: set both or neither")
	}
	if c.Timeout <= 0 {
		return errors.New("buyer.smtp.timeout: must be positive")
	}
	return nil
}

// Mailer delivers codes through the relay, one connection per code.
type Mailer struct {
	cfg  Config
	host string
	tls  *tls.Config
	from *mail.Address
}

var _ buyer.Mailer = (*Mailer)(nil)

// New builds the mailer of a validated Config with a relay; tlsConfig
// overrides the TLS client settings (nil: the system roots, the relay's
// host name).
func New(cfg Config, tlsConfig *tls.Config) (*Mailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		return nil, errors.New("buyer.smtp.addr: empty")
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tlsConfig = tlsConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	from, _ := mail.ParseAddress(cfg.From)
	return &Mailer{cfg: cfg, host: host, tls: tlsConfig, from: from}, nil
}

// SendCode implements buyer.Mailer.
func (m *Mailer) SendCode(ctx context.Context, to, code string, ttl time.Duration) error {
	return m.deliver(ctx, to, Message(m.from.String(), to, code, ttl, time.Now()))
}

// deliver sends one message to to through the relay.
func (m *Mailer) deliver(ctx context.Context, to string, msg []byte) error {
	if strings.ContainsAny(to, "\r\n") {
		return errors.New("smtp: bad recipient")
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	d := net.Dialer{}
	var conn net.Conn
	var err error
	if m.cfg.TLS == Implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: m.tls}).DialContext(ctx, "tcp", m.cfg.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", m.cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: dial %s: %w", m.cfg.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if m.cfg.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the relay does not offer STARTTLS (set buyer.smtp.tls: none for a local relay)")
		}
		if err := c.StartTLS(m.tls); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %w", err)
		}
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.host)); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: end of data: %w", err)
	}
	return c.Quit()
}

// Message is the email carrying code: plain text, CRLF line ends.
func Message(from, to, code string, ttl time.Duration, now time.Time) []byte {
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", to)
	hdr("Subject", "Your livedrop sign-in code: "+code)
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	b.WriteString("Your sign-in code is " + code + ".\r\n\r\n")
	b.WriteString(fmt.Sprintf("Enter it on the live page within %v. If you did not ask for it, ignore this email.\r\n", ttl.Round(time.Second)))
	return []byte(b.String())
}
