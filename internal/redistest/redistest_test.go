package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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

func TestClusterFailover(t *testing.T) {
	c := StartCluster(t, ClusterOptions{})
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 3 masters and 3 replicas", len(c.Nodes))
	}
	key := "{drop:x}:meta"
	m := c.MasterFor(key)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	var wait *redis.IntCmd
	_, err := rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error {
		p.Set(context.Background(), key, "1", 0)
		wait = redis.NewIntCmd(context.Background(), "wait", 1, 2000)
		return p.Process(context.Background(), wait)
	})
	rdb.Close()
	if err != nil || wait.Val() != 1 {
		t.Fatalf("write to the slot's master, replicated: %v %v", wait.Val(), err)
	}
	killed := c.KillMasterFor(key)
	if killed != m {
		t.Fatal("killed another node than the slot's master")
	}
	if now := c.MasterFor(key); now == m {
		t.Fatal("the dead master still serves the slot")
	} else if v, err := command(now.Addr(), "get", key); err != nil || v != "1" {
		t.Fatalf("the promoted replica has %v (%v), want the write", v, err)
	}
	c.Restart(killed) // back as a replica of the promoted one
	if c.MasterFor(key) == killed {
		t.Fatal("the restarted node took its slots back")
	}
}

func TestSentinelFailover(t *testing.T) {
	set := StartSentinel(t, Options{AppendOnly: true})
	first := set.Master
	set.KillMaster()
	if set.Master == first {
		t.Fatal("the master did not change")
	}
	if info, err := command(set.Master.Addr(), "info", "replication"); err != nil || !strings.Contains(fmt.Sprint(info), "role:master") {
		t.Fatalf("promoted node: %v %v", info, err)
	}
}
