package peer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// records is a slog handler that keeps what it is given, from level min.
type records struct {
	min   slog.Level
	mu    *sync.Mutex
	got   *[]record
	attrs []slog.Attr
}

type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newRecords(min slog.Level) records {
	return records{min: min, mu: &sync.Mutex{}, got: &[]record{}}
}

func (h records) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h records) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.got = append(*h.got, rec)
	h.mu.Unlock()
	return nil
}

func (h records) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h records) WithGroup(string) slog.Handler { return h }

func (h records) all() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), *h.got...)
}

// counted counts how often it is formatted.
type counted struct{ n *int }

func (c counted) String() string { *c.n++; return "x" }

// TestLoggerFactoryLevels: each pion level lands at its slog level with
// the pion scope (errors as errors, the rest below our debug level), and a
// message below the handler's level is not even formatted.
func TestLoggerFactoryLevels(t *testing.T) {
	h := newRecords(slog.LevelDebug)
	l := LoggerFactory(slog.New(h)).NewLogger("ice")
	formatted := 0
	l.Errorf("e %d", 1)
	l.Warn("w")
	l.Infof("i %s", "x")
	l.Debugf("d %v", counted{&formatted})
	l.Tracef("t %v", counted{&formatted})
	got := h.all()
	want := []record{{level: slog.LevelError, msg: "e 1"}, {level: slog.LevelDebug, msg: "w"}}
	if len(got) != len(want) {
		t.Fatalf("got %d records (%v), want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].level != w.level || got[i].msg != w.msg || got[i].attrs["pion"] != "ice" {
			t.Errorf("record %d: %v %q %v, want %v %q pion=ice", i, got[i].level, got[i].msg, got[i].attrs, w.level, w.msg)
		}
	}
	if formatted != 0 {
		t.Fatalf("%d messages below the handler's level were formatted", formatted)
	}

	low := newRecords(levelTrace)
	l = LoggerFactory(slog.New(low)).NewLogger("dtls")
	l.Info("i")
	l.Debug("d")
	l.Trace("t")
	if got := low.all(); len(got) != 3 || got[0].level != levelInfo || got[1].level != levelDebug || got[2].level != levelTrace {
		t.Fatalf("info, debug and trace: %v", got)
	}
}

// TestAPILogsToItsLogger: what pion logs about the node's ICE TCP mux and
// a peer connection goes to the logger given to NewAPI.
func TestAPILogsToItsLogger(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultICEConfig()
	cfg.TCPPort = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	h := newRecords(levelTrace)
	api, closeICE, err := NewAPI(cfg, WithLogger(slog.New(h)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	// The mux logs from its accept goroutine: wait for it, with a deadline.
	var mux, signalling bool
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, r := range h.all() {
			mux = mux || (r.attrs["pion"] == "ice" && strings.HasPrefix(r.msg, "Listening TCP on"))
			signalling = signalling || (r.attrs["pion"] == "pc" && strings.Contains(r.msg, "signaling state changed"))
		}
		if mux && signalling || time.Now().After(deadline) {
			break
		}
	}
	if !mux || !signalling {
		t.Fatalf("TCP mux logged: %v, peer connection logged: %v; records:\n%s", mux, signalling, fmt.Sprint(h.all()))
	}
}
