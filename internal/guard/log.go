package guard

import "time"

// summary is one surface's failure log window: its first failure was
// logged, the later ones are counted.
type summary struct {
	start   time.Time
	count   int // after the first
	lastIP  string
	reasons map[string]int
}

// note logs the first failure (or lockout) of a surface's window and
// counts the rest; the next one after the window reports the count.
// Lockouts have windows of their own, so one is always seen. Called with
// g.mu held.
func (g *Guard) note(now time.Time, surface, reason, ip, account string, extra ...any) {
	key := surface
	if reason == "lockout" {
		key += "/lockout"
	}
	s := g.logs[key]
	if s != nil && now.Sub(s.start) < g.cfg.LogWindow {
		s.count++
		s.lastIP = ip
		s.reasons[reason]++
		return
	}
	if s != nil && s.count > 0 {
		g.flush(surface, reason == "lockout", s, now)
	}
	g.logs[key] = &summary{start: now, reasons: map[string]int{}}
	args := append([]any{"surface", surface, "reason", reason, "remote", ip, "account", account}, extra...)
	if reason == "lockout" {
		g.log.Warn("auth lockout", args...)
		return
	}
	args = append(args, "summary_every", g.cfg.LogWindow)
	g.log.Warn("auth failure", args...)
}

func (g *Guard) flush(surface string, lockouts bool, s *summary, now time.Time) {
	msg := "more auth failures"
	if lockouts {
		msg = "more auth lockouts"
	}
	args := []any{"surface", surface, "count", s.count, "since", s.start, "window", now.Sub(s.start).Round(time.Second),
		"last_remote", s.lastIP}
	for r, n := range s.reasons {
		args = append(args, "reason_"+r, n)
	}
	g.log.Warn(msg, args...)
}

// Flush reports the failures counted since each surface's last logged
// line (at shutdown).
func (g *Guard) Flush() {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for key, s := range g.logs {
		if s.count > 0 {
			surface, lockouts := key, false
			if n := len(key) - len("/lockout"); n > 0 && key[n:] == "/lockout" {
				surface, lockouts = key[:n], true
			}
			g.flush(surface, lockouts, s, now)
		}
		delete(g.logs, key)
	}
}
