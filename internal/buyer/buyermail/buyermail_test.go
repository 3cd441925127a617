package buyermail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

// selfSigned is a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSendCodeOverSTARTTLSWithAuth(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := smtptest.Start(t, smtptest.Options{Username: "relay-user", Password: "relay-pass", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	cfg := Defaults()
	cfg.Addr, cfg.Username, cfg.Password, cfg.From = srv.Addr(), "relay-user", "relay-pass", "Shop <codes@shop.example>"
	m, err := New(cfg, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SendCode(context.Background(), "ann@example.com", "042917", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	code, err := srv.Code("ann@example.com", 5*time.Second)
	if err != nil || code != "042917" {
		t.Fatalf("code %q, %v", code, err)
	}
	msg := srv.Messages()[0]
	if !msg.TLS || msg.User != "relay-user" || msg.From != "codes@shop.example" || !strings.Contains(msg.Data, "Subject: Your livedrop sign-in code: 042917") ||
		!strings.Contains(msg.Data, "within 10m0s") {
		t.Fatalf("message %+v", msg)
	}
	// Wrong password: refused, said so.
	cfg.Password = "nope"
	bad, _ := New(cfg, &tls.Config{RootCAs: pool})
	if err := bad.SendCode(context.Background(), "ann@example.com", "111111", time.Minute); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("wrong relay password: %v", err)
	}
	// An untrusted certificate is refused.
	cfg.Password = "relay-pass"
	untrusted, _ := New(cfg, nil)
	if err := untrusted.SendCode(context.Background(), "ann@example.com", "111111", time.Minute); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("untrusted relay certificate: %v", err)
	}
}

func TestStartTLSRequired(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	cfg := Defaults()
	cfg.Addr = srv.Addr()
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SendCode(context.Background(), "ann@example.com", "123456", time.Minute); err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("relay without STARTTLS: %v", err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("sent in the clear although STARTTLS is required")
	}
	cfg.TLS = None
	plain, _ := New(cfg, nil)
	if err := plain.SendCode(context.Background(), "ann@example.com", "123456", time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Addr = "nohost" }, "buyer.smtp.addr"},
		{func(c *Config) { c.From = "not an address" }, "buyer.smtp.from"},
		{func(c *Config) { c.TLS = "ssl" }, "buyer.smtp.tls"},
		{func(c *Config) { c.Username = "u" }, "buyer.smtp.username"},
		{func(c *Config) { c.Timeout = 0 }, "buyer.smtp.timeout"},
	} {
		c := Defaults()
		c.Addr = "relay:587"
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %s", err, tc.want)
		}
	}
	if c := Defaults(); c.Validate() != nil {
		t.Error("defaults (no relay) invalid")
	}
}
