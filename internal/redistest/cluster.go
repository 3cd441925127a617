package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterOptions shapes a Redis Cluster.
type ClusterOptions struct {
	// Masters (default 3), each with Replicas (default 1).
	Masters, Replicas int
	// AppendOnly and AppendFsync as for one server.
	AppendOnly  bool
	AppendFsync string
}

// Cluster is a Redis Cluster of real redis-server processes on free
// loopback ports in temporary directories, stopped when the test ends.
// A replica takes over its master's slots about a second after the master
// dies (cluster-node-timeout 1000 ms).
type Cluster struct {
	t        testing.TB
	Nodes    []*Server
	replicas int
}

// StartCluster starts the nodes, joins them with redis-cli --cluster
// create and waits until every node reports the cluster ok.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redistest: redis-cli not found in PATH (%v); it comes with the Debian redis-server package (redis-tools)", err)
	}
	c := &Cluster{t: t, replicas: opts.Replicas}
	for range opts.Masters * (1 + opts.Replicas) {
		c.Nodes = append(c.Nodes, launch(t, Options{AppendOnly: opts.AppendOnly, AppendFsync: opts.AppendFsync}, func(s *Server) {
			s.busPort = true
			s.extra = []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
				"--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0", "--cluster-require-full-coverage", "yes"}
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.Replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(30 * time.Second)
	c.waitReplicated(30 * time.Second)
	return c
}

// Restart starts a stopped node again on its port and directory; a killed
// master comes back as a replica of the node that took its slots. It waits
// until the cluster is ok and every master has its replicas in sync.
func (c *Cluster) Restart(n *Server) {
	c.t.Helper()
	n.Restart()
	c.waitOK(30 * time.Second)
	c.waitReplicated(30 * time.Second)
}

// waitReplicated waits until every master has Replicas replicas online.
func (c *Cluster) waitReplicated(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		live := c.live()
		m, err := c.masters(live[0].Addr())
		ok := err == nil
		for _, addr := range m {
			info, err := command(addr, "info", "replication")
			if n := strings.Count(fmt.Sprint(info), "state=online"); err != nil || n < c.replicas {
				ok, last = false, fmt.Sprintf("%s: %d replicas online (%v)", addr, n, err)
				break
			}
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("redistest: replicas not in sync within %v: %s", d, last)
}

// Addrs lists every node's host:port (seeds for a cluster client).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

func (c *Cluster) live() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		n.mu.Lock()
		up := n.cmd != nil
		n.mu.Unlock()
		if up {
			out = append(out, n)
		}
	}
	return out
}

func command(addr string, args ...any) (any, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return rdb.Do(ctx, args...).Result()
}

// waitOK waits until every live node says cluster_state:ok with all slots
// served, and they agree on who serves them.
func (c *Cluster) waitOK(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		ok := true
		var view string
		for _, n := range c.live() {
			info, err := command(n.Addr(), "cluster", "info")
			s, _ := info.(string)
			if err != nil || !strings.Contains(s, "cluster_state:ok") || !strings.Contains(s, "cluster_slots_ok:16384") {
				ok, last = false, fmt.Sprintf("%s: %v %s", n.Addr(), err, firstLine(s))
				break
			}
			m, err := c.masters(n.Addr())
			if err != nil {
				ok, last = false, err.Error()
				break
			}
			if v := fmt.Sprint(m); view == "" {
				view = v
			} else if v != view {
				ok, last = false, "nodes disagree on the masters"
				break
			}
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("redistest: cluster not ok within %v: %s", d, last)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// masters maps each slot range start to its master's address, as the node
// at addr sees it (masters marked failed are left out).
func (c *Cluster) masters(addr string) (map[int]string, error) {
	res, err := command(addr, "cluster", "nodes")
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(fmt.Sprint(res)), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		node := f[1]
		if i := strings.IndexByte(node, '@'); i >= 0 {
			node = node[:i]
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated
			}
			lo, _, _ := strings.Cut(r, "-")
			n, err := strconv.Atoi(lo)
			if err == nil {
				out[n] = node
			}
		}
	}
	return out, nil
}

// MasterFor returns the node serving key's slot now.
func (c *Cluster) MasterFor(key string) *Server {
	c.t.Helper()
	n, err := c.masterFor(key)
	if err != nil {
		c.t.Fatalf("redistest: %v", err)
	}
	return n
}

func (c *Cluster) masterFor(key string) (*Server, error) {
	live := c.live()
	if len(live) == 0 {
		return nil, fmt.Errorf("no live cluster node")
	}
	slot, err := command(live[0].Addr(), "cluster", "keyslot", key)
	if err != nil {
		return nil, fmt.Errorf("cluster keyslot: %w", err)
	}
	res, err := command(live[0].Addr(), "cluster", "shards")
	if err != nil {
		return nil, fmt.Errorf("cluster shards: %w", err)
	}
	want, _ := slot.(int64)
	shards, _ := res.([]any)
	for _, sh := range shards {
		m := toMap(sh)
		slots, _ := m["slots"].([]any)
		inShard := false
		for i := 0; i+1 < len(slots); i += 2 {
			lo, _ := slots[i].(int64)
			hi, _ := slots[i+1].(int64)
			inShard = inShard || lo <= want && want <= hi
		}
		if !inShard {
			continue
		}
		nodes, _ := m["nodes"].([]any)
		for _, nd := range nodes {
			nm := toMap(nd)
			if nm["role"] == "master" && nm["health"] == "online" {
				port, _ := nm["port"].(int64)
				for _, n := range c.Nodes {
					if n.port == int(port) {
						return n, nil
					}
				}
			}
		}
	}
	return nil, fmt.Errorf("no live master for slot %d", want)
}

func toMap(v any) map[string]any {
	out := map[string]any{}
	switch x := v.(type) {
	case map[any]any:
		for k, val := range x {
			out[fmt.Sprint(k)] = val
		}
	case []any:
		for i := 0; i+1 < len(x); i += 2 {
			out[fmt.Sprint(x[i])] = x[i+1]
		}
	}
	return out
}

// KillMasterFor kills (SIGKILL) the master serving key's slot and waits
// until its replica has taken the slots over and the cluster is ok again.
// It returns the killed node.
func (c *Cluster) KillMasterFor(key string) *Server {
	c.t.Helper()
	m := c.MasterFor(key)
	m.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if n, err := c.masterFor(key); err == nil && n != m {
			c.waitOK(30 * time.Second)
			return m
		}
	}
	c.t.Fatalf("redistest: no replica took over from %s within 30 s", m.Addr())
	return nil
}
