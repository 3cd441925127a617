package httpnode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// hstsValue is sent on every response of a node serving HTTPS.
const hstsValue = "max-age=31536000"

// metrics are the node's own: what it refused and whether it is ready.
type metrics struct {
	refused *prometheus.CounterVec
	ready   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_http_refused_total",
			Help: "Requests refused for their shape: body_too_large (413), read_timeout (the body did not arrive within http_read_timeout).",
		}, []string{"reason"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livedrop_ready",
			Help: "1 when the last /readyz answered ready, else 0.",
		}),
	}
	for _, c := range []prometheus.Collector{m.refused, m.ready} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	for _, r := range []string{"body_too_large", "read_timeout"} {
		m.refused.WithLabelValues(r)
	}
	return m, nil
}

// guard wraps every route: HSTS under TLS, and the count of requests
// refused for a body too large (any handler's 413) or too slow.
func (n *Node) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.tls {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		rec := &recorder{ResponseWriter: w}
		var body *watchedBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &watchedBody{ReadCloser: r.Body}
			r.Body = body
		}
		next.ServeHTTP(rec, r)
		switch {
		case body != nil && body.timedOut.Load():
			n.m.refused.WithLabelValues("read_timeout").Inc()
		case rec.code == http.StatusRequestEntityTooLarge:
			n.m.refused.WithLabelValues("body_too_large").Inc()
		}
	})
}

// watchedBody notes a read that failed on the connection's read deadline.
type watchedBody struct {
	io.ReadCloser
	timedOut atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut.Store(true)
	}
	return n, err
}

// recorder keeps the status code; it passes Flush, Hijack (WebSockets)
// and the ResponseController's deadlines through.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}
