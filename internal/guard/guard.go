// Package guard keeps password and token guessing slow: it holds a failure
// budget per client address and per account, locks either out for a time
// that doubles with each lockout in a row, remembers a bounded number of
// entries, and logs failures once per window with a count. It knows no
// protocol: adapters ask it before checking a credential and tell it how
// the check went. It never sees the credential itself.
package guard

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// trustFor is how long a success from an address exempts it from its
// account's lockout: guessing from elsewhere must not lock out the seller's
// own camera or console.
const trustFor = 24 * time.Hour

// Params build a Guard.
type Params struct {
	Config Config
	// Now is the clock (time.Now when nil).
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics
}

// Guard is the failure budget of one process's authentication surfaces.
// It is safe for concurrent use.
type Guard struct {
	cfg Config
	now func() time.Time
	log *slog.Logger
	m   *Metrics

	mu       sync.Mutex
	ips      *table
	accounts *table
	logs     map[string]*summary
}

// OrDefault returns g, or when g is nil a guard of default settings that
// logs to logger (an API given no shared failure budget keeps its own).
func OrDefault(g *Guard, logger *slog.Logger) (*Guard, error) {
	if g != nil {
		return g, nil
	}
	return New(Params{Config: Defaults(), Logger: logger})
}

// New builds a guard; p.Metrics is required (NewMetrics).
func New(p Params) (*Guard, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Metrics == nil {
		p.Metrics = newMetrics()
	}
	return &Guard{
		cfg: p.Config, now: p.Now, log: p.Logger.With("component", "guard"), m: p.Metrics,
		ips:      newTable(p.Config.MaxEntries),
		accounts: newTable(p.Config.MaxEntries),
		logs:     map[string]*summary{},
	}, nil
}

// Verdict is whether an attempt may be checked at all.
type Verdict struct {
	// Locked is true while the address or the account is locked out.
	Locked bool
	// Scope says what is locked: "ip" or "account".
	Scope string
	// RetryAfter is how long the lockout still lasts.
	RetryAfter time.Duration
}

// Check says whether ip may try account now. It changes nothing: an
// adapter that refuses a locked-out attempt reports it with Refused.
func (g *Guard) Check(ip, account string) Verdict {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.verdict(now, ip, account)
}

func (g *Guard) verdict(now time.Time, ip, account string) Verdict {
	ie := g.ips.peek(ip)
	if ie != nil && now.Before(ie.lockedUntil) {
		return Verdict{Locked: true, Scope: "ip", RetryAfter: ie.lockedUntil.Sub(now)}
	}
	if ie != nil && now.Before(ie.trustedUntil) {
		return Verdict{}
	}
	if ae := g.accounts.peek(account); ae != nil && now.Before(ae.lockedUntil) {
		return Verdict{Locked: true, Scope: "account", RetryAfter: ae.lockedUntil.Sub(now)}
	}
	return Verdict{}
}

// Attempt is one presentation of a credential, for Try.
type Attempt struct {
	Surface, IP, Account string
	// Presented is false for a request with no credential at all (a
	// challenge round): it is never counted as a failure.
	Presented bool
	// Reason labels a failure ("wrong_credentials", "wrong_token", ...).
	Reason string
}

// Try checks a credential within the budget, the one way every surface
// does: while the address or account is locked out a presented credential
// is refused (counted) without valid being called; otherwise valid decides,
// a right one is forgiven its address's failures, a wrong presented one
// costs the budget. The verdict is the lockout the attempt was refused
// by unchecked (Locked false when it was checked).
func (g *Guard) Try(a Attempt, valid func() bool) (bool, Verdict) {
	if v := g.Check(a.IP, a.Account); v.Locked && a.Presented {
		g.Refused(a.Surface, a.IP, a.Account, v)
		return false, v
	}
	if valid() {
		g.Succeed(a.IP, a.Account)
		return true, Verdict{}
	}
	if !a.Presented {
		return false, Verdict{}
	}
	g.Fail(a.Surface, a.Reason, a.IP, a.Account)
	return false, Verdict{}
}

// Refused counts an attempt turned away by a lockout, without its
// credentials being checked. It does not lengthen the lockout.
func (g *Guard) Refused(surface, ip, account string, v Verdict) {
	g.m.Failures.WithLabelValues(surface, "locked_out").Inc()
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note(now, surface, "locked_out", ip, account, "scope", v.Scope, "retry_after", v.RetryAfter.Round(time.Second))
}

// Fail records a wrong credential from ip for account; reason labels the
// metric ("wrong_credentials", "wrong_token", "method_not_allowed"). It
// returns the verdict that now holds.
func (g *Guard) Fail(surface, reason, ip, account string) Verdict {
	g.m.Failures.WithLabelValues(surface, reason).Inc()
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note(now, surface, reason, ip, account)
	if d, locked := g.ips.fail(now, ip, g.cfg.MaxFailures, g.cfg); locked {
		g.lockedOut(now, surface, "ip", ip, account, d)
	}
	if d, locked := g.accounts.fail(now, account, g.cfg.AccountMaxFailures, g.cfg); locked {
		g.lockedOut(now, surface, "account", ip, account, d)
	}
	return g.verdict(now, ip, account)
}

// Succeed records a right credential: the address's failures are
// forgiven and it is trusted past its account's lockout for a day.
func (g *Guard) Succeed(ip, account string) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.ips.get(now, ip)
	e.fails, e.strikes = 0, 0
	e.trustedUntil = now.Add(trustFor)
}

func (g *Guard) lockedOut(now time.Time, surface, scope, ip, account string, d time.Duration) {
	g.m.Lockouts.WithLabelValues(surface).Inc()
	g.note(now, surface, "lockout", ip, account, "scope", scope, "for", d)
}

// AddrKey is the budget key of a client address: the IP of an IPv4
// address, the /64 of an IPv6 one (one host's usual share).
func AddrKey(addr net.Addr) string {
	if a, ok := addr.(*net.TCPAddr); ok {
		return ipKey(a.AddrPort().Addr())
	}
	return HostKey(addr.String())
}

// HostKey is AddrKey for "host:port" (http.Request.RemoteAddr) or a bare IP.
func HostKey(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	return ipKey(ip)
}

func ipKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
