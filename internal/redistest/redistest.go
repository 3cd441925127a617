// Package redistest starts real redis-server processes for tests: on a free
// loopback port, in a test's temporary directory, stopped when the test ends.
// It supports stopping and restarting a server on the same port and directory
// so that tests can prove what survives a Redis restart.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options selects how the server persists data.
type Options struct {
	// AppendOnly turns on the append-only file so that data survives Restart.
	AppendOnly bool
	// AppendFsync is "always", "everysec" or "no"; empty means "always".
	AppendFsync string
	// StartTimeout bounds the wait for the first PING answer; 0 means 10s.
	StartTimeout time.Duration
	// Dir, if set, is where the server's working directory is made (and
	// removed when the test ends) instead of the test's temporary
	// directory: a benchmark of an edge puts Redis's append-only file on
	// another device, as Redis runs on its own machine in production.
	Dir string
}

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	opts Options
	bin  string
	dir  string
	port int

	// extra arguments (cluster, replica); sentinelConf, if set, runs the
	// process as a sentinel with that config file.
	extra        []string
	sentinelConf string
	busPort      bool // the port + 10000 (cluster bus) must be free too

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start launches redis-server for t and registers its stop in t.Cleanup.
// A missing redis-server fails the test with a message telling how to get it.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	return launch(t, opts, func(*Server) {})
}

// launch starts a server that setup configures once its port is known.
func launch(t testing.TB, opts Options, setup func(*Server)) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server not found in PATH (%v); run `make test`, which installs the Debian redis-server package", err)
	}
	if opts.AppendFsync == "" {
		opts.AppendFsync = "always"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 10 * time.Second
	}
	var dir string
	if opts.Dir == "" {
		dir = t.TempDir()
	} else {
		if dir, err = os.MkdirTemp(opts.Dir, "redistest-"); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	s := &Server{t: t, opts: opts, bin: bin, dir: dir}
	setup(s)
	var lastErr error
	for range 5 {
		s.port, err = freePort()
		for s.busPort && err == nil && !freeBus(s.port) {
			s.port, err = freePort()
		}
		if err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("redistest: %v", lastErr)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir is the server's working directory (its data files live there).
func (s *Server) Dir() string { return s.dir }

// Stop kills the server (SIGKILL) and waits for it to exit. Data already
// written to the append-only file survives for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same port and directory and waits
// until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	deadline := time.Now().Add(s.opts.StartTimeout)
	var err error
	for time.Now().Before(deadline) {
		if err = s.start(); err == nil {
			return
		}
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

func (s *Server) start() error {
	args := []string{}
	if s.sentinelConf != "" {
		args = append(args, s.sentinelConf, "--sentinel")
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--protected-mode", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if s.sentinelConf != "" {
		// no persistence options for a sentinel
	} else if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", s.opts.AppendFsync)
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, s.extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.StartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := ping(ctx, s.Addr()); err == nil {
			s.mu.Lock()
			s.cmd, s.done = cmd, done
			s.mu.Unlock()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited early: %v; log: %s", waitErr, tail(filepath.Join(s.dir, "redis.log")))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on %s did not answer PING within %v; log: %s", s.Addr(), s.opts.StartTimeout, tail(filepath.Join(s.dir, "redis.log")))
		case <-tick.C:
		}
	}
}

// ping sends an inline PING and expects +PONG.
func ping(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return errors.New("unexpected reply " + strings.TrimSpace(line))
	}
	return nil
}

// freeBus reports whether port+10000, a cluster node's bus port, is free.
func freeBus(port int) bool {
	if port+10000 > 65535 {
		return false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// LogTail is the end of the server's log, for a failing test to show.
func (s *Server) LogTail() string { return tail(filepath.Join(s.dir, "redis.log")) }
