// Package smtptest runs a real SMTP server (go-smtp) inside a test: it
// takes mail for any recipient, optionally over STARTTLS and with PLAIN
// auth, and hands the test the sign-in codes it caught.
package smtptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a server.
type Options struct {
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// TLS, when set, is offered with STARTTLS.
	TLS *tls.Config
	// RefuseFirst refuses the first RefuseFirst mails with a temporary
	// error (451 at MAIL FROM), as a relay that is busy or greylisting.
	RefuseFirst int
}

// Message is one mail the server took.
type Message struct {
	From string
	To   []string
	Data string
	// TLS says the message came over STARTTLS; User who authenticated.
	TLS  bool
	User string
}

// Server is a running SMTP server, closed when the test ends.
type Server struct {
	addr string
	opts Options

	mu    sync.Mutex
	msgs  []Message
	taken map[string]int // recipient -> messages handed out by Code
	more  chan struct{}  // closed and replaced on every message
	// refused counts the mails refused (Options.RefuseFirst).
	refused int
}

// Start listens on a free loopback port.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{addr: ln.Addr().String(), opts: opts, taken: map[string]int{}, more: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = opts.TLS == nil
	srv.TLSConfig = opts.TLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	// Close the listener too: a Close before Serve has taken the listener
	// would leave Serve accepting forever.
	tb.Cleanup(func() { _ = srv.Close(); _ = ln.Close(); <-done })
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Messages are the mails taken so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

var codeRE = regexp.MustCompile(`code is (\d{6})\.`)

// Code waits up to timeout for a message to to that Code has not handed
// out yet and returns the code it carries.
func (s *Server) Code(to string, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		seen := 0
		for _, m := range s.msgs {
			for _, r := range m.To {
				if !strings.EqualFold(r, to) {
					continue
				}
				if seen++; seen > s.taken[to] {
					s.taken[to] = seen
					s.mu.Unlock()
					if c := codeRE.FindStringSubmatch(m.Data); c != nil {
						return c[1], nil
					}
					return "", fmt.Errorf("smtptest: message to %s has no code:\n%s", to, m.Data)
				}
			}
		}
		more := s.more
		s.mu.Unlock()
		select {
		case <-more:
		case <-deadline.C:
			return "", fmt.Errorf("smtptest: no new message to %s within %v", to, timeout)
		}
	}
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.more)
	s.more = make(chan struct{})
}

// refuse says whether to refuse this mail (Options.RefuseFirst), and
// counts it.
func (s *Server) refuse() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused >= s.opts.RefuseFirst {
		return false
	}
	s.refused++
	return true
}

// Refused is how many mails the server refused.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	msg  Message
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.opts.Username || pass != ss.s.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	if ss.s.refuse() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	ss.msg = Message{From: from}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := ss.msg
	m.Data, m.User = string(b), ss.user
	_, m.TLS = ss.c.TLSConnectionState()
	ss.s.add(m)
	return nil
}

func (ss *session) Reset()        { ss.msg = Message{} }
func (ss *session) Logout() error { return nil }
