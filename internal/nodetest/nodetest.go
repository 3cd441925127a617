// Package nodetest runs a node of a test as a child process of the test
// binary, so that a test can SIGKILL it, restart it and read its log.
package nodetest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listenPrefix starts the line a child prints on stdout once it serves.
const listenPrefix = "LISTEN "

// Main is a TestMain for a package whose tests start children: when the
// environment variable env is "1" this process is a child and runs run
// (exiting 0 when it returns nil, 1 with the error on stderr otherwise);
// else it runs the tests.
func Main(m *testing.M, env string, run func() error) {
	if os.Getenv(env) == "1" {
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Serve is a child's HTTP side: it listens on addr, serves h, tells the
// parent its URL, and shuts down (up to drain) when ctx ends.
func Serve(ctx context.Context, addr string, h http.Handler, drain time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("%shttp://%s\n", listenPrefix, ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Child is a node process started by a test.
type Child struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string // http://host:port it serves on
	done chan struct{}
	log  string
}

// Start re-executes the test binary with env added to its environment
// (which must set Main's variable to "1"), waits up to 30 s for it to
// serve, and stops it (SIGTERM) when the test ends. id names it in errors
// and its log file.
func Start(t testing.TB, id string, env ...string) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	logPath := filepath.Join(t.TempDir(), id+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{t: t, cmd: cmd, done: make(chan struct{}), log: logPath}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), listenPrefix); ok {
				select {
				case urls <- u:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); lf.Close(); close(c.done) }()
	select {
	case c.URL = <-urls:
	case <-c.done:
		t.Fatalf("%s exited before listening; log:\n%s", id, c.LogText())
	case <-time.After(30 * time.Second):
		c.Kill()
		t.Fatalf("%s did not listen within 30s; log:\n%s", id, c.LogText())
	}
	t.Cleanup(c.Stop)
	return c
}

// LogText is what the child wrote to stderr so far.
func (c *Child) LogText() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (c *Child) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// Stop sends SIGTERM (drain) and waits; it fails the test and kills the
// child when the drain takes more than 20 s.
func (c *Child) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.t.Errorf("child did not drain within 20s; killing; log:\n%s", c.LogText())
		c.Kill()
	}
}
