package origin

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/guard"
)

// connLimiter is the RTSP listener: it closes connections past the global
// and per-address caps as they are accepted, and gives each connection a
// handshake deadline.
type connLimiter struct {
	net.Listener
	max, perIP int
	handshake  time.Duration
	refused    *prometheus.CounterVec // by reason

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func newRefusedMetric(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livedrop_rtsp_refused_total",
		Help: "RTSP connections closed by the origin: over rtsp_max_conns, over rtsp_max_conns_per_ip, or silent past rtsp_handshake_timeout.",
	}, []string{"reason"})
	for _, r := range []string{"max_conns", "max_conns_per_ip", "handshake_timeout"} {
		c.WithLabelValues(r)
	}
	return c, reg.Register(c)
}

// Accept returns the next connection within the caps; the others are
// closed unanswered.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := guard.AddrKey(c.RemoteAddr())
		reason := ""
		l.mu.Lock()
		switch {
		case l.total >= l.max:
			reason = "max_conns"
		case l.byIP[key] >= l.perIP:
			reason = "max_conns_per_ip"
		default:
			l.total++
			l.byIP[key]++
		}
		l.mu.Unlock()
		if reason != "" {
			l.refused.WithLabelValues(reason).Inc()
			_ = c.Close()
			continue
		}
		lc := &limitedConn{Conn: c, l: l, key: key, handshakeEnd: time.Now().Add(l.handshake)}
		_ = c.SetReadDeadline(lc.handshakeEnd)
		return lc, nil
	}
}

func (l *connLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[key]--; l.byIP[key] <= 0 {
		delete(l.byIP, key)
	}
}

// limitedConn is an accepted RTSP connection. Until handshakeDone its
// reads end at the handshake deadline, whatever deadline gortsplib asks
// for (it asks for none before PLAY or RECORD).
type limitedConn struct {
	net.Conn
	l    *connLimiter
	key  string
	once sync.Once

	mu           sync.Mutex
	handshakeEnd time.Time // zero once the handshake is done
	asked        time.Time // the read deadline gortsplib asked for
	timedOut     bool
}

func (c *limitedConn) effective() time.Time {
	if c.handshakeEnd.IsZero() || (!c.asked.IsZero() && c.asked.Before(c.handshakeEnd)) {
		return c.asked
	}
	return c.handshakeEnd
}

// SetReadDeadline keeps the handshake deadline while it holds.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = t
	return c.Conn.SetReadDeadline(c.effective())
}

// SetDeadline keeps the handshake deadline while it holds.
func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// handshakeDone lifts the handshake deadline: the client plays or records.
func (c *limitedConn) handshakeDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handshakeEnd.IsZero() {
		return
	}
	c.handshakeEnd = time.Time{}
	_ = c.Conn.SetReadDeadline(c.asked)
}

// Read counts a connection closed for silence during its handshake.
func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		first := !c.handshakeEnd.IsZero() && !time.Now().Before(c.handshakeEnd) && !c.timedOut
		c.timedOut = c.timedOut || first
		c.mu.Unlock()
		if first {
			c.l.refused.WithLabelValues("handshake_timeout").Inc()
		}
	}
	return n, err
}

// Close frees the connection's place under the caps.
func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}

// markHandshakeDone finds the limitedConn under a ServerConn's net.Conn
// (TLS wraps it) and lifts its handshake deadline.
func markHandshakeDone(nc net.Conn) {
	for nc != nil {
		if lc, ok := nc.(*limitedConn); ok {
			lc.handshakeDone()
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}

// newRTSPServer builds the RTSP server on o.rtspLn: the offered auth
// methods, the failure budget, the connection caps and deadlines.
func newRTSPServer(p Params, o *Origin, log *slog.Logger) (*gortsplib.Server, error) {
	methods, err := authMethods(p.Config.RTSPAuthMethods)
	if err != nil {
		return nil, err
	}
	g := o.guard
	refused, err := newRefusedMetric(p.Registry)
	if err != nil {
		return nil, err
	}
	ln := &connLimiter{Listener: o.rtspLn, max: p.Config.RTSPMaxConns, perIP: p.Config.RTSPMaxConnsPerIP,
		handshake: p.Config.RTSPHandshakeTimeout, refused: refused, byIP: map[string]int{}}
	return &gortsplib.Server{
		Handler:        &rtspHandler{o: o, log: log, guard: g, basic: slices.Contains(p.Config.RTSPAuthMethods, "basic")},
		RTSPAddress:    o.rtspLn.Addr().String(),
		UDPRTPAddress:  p.Config.RTSPUDPRTPAddr,
		UDPRTCPAddress: p.Config.RTSPUDPRTCPAddr,
		AuthMethods:    methods,
		Listen: func(string, string) (net.Listener, error) {
			return ln, nil
		},
	}, nil
}
