package redistest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func send(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if strings.HasPrefix(line, "$") && !strings.HasPrefix(line, "$-1") {
		line, _ = r.ReadString('\n')
	}
	return strings.TrimSpace(line)
}

func TestRestartKeepsAppendOnlyData(t *testing.T) {
	s := Start(t, Options{AppendOnly: true})
	if got := send(t, s.Addr(), "SET k v1"); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	s.Restart()
	if got := send(t, s.Addr(), "GET k"); got != "v1" {
		t.Fatalf("after restart GET k = %q, want v1", got)
	}
	s.Stop()
	if _, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond); err == nil {
		t.Fatalf("server still answers after Stop")
	}
}

func TestWithoutAppendOnlyRestartLosesData(t *testing.T) {
	s := Start(t, Options{})
	send(t, s.Addr(), "SET k v1")
	s.Restart()
	if got := send(t, s.Addr(), "GET k"); got != "$-1" {
		t.Fatalf("after restart GET k = %q, want nil", got)
	}
}
