package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelSet is a Redis master with one replica watched by three
// sentinels (quorum 2), real processes on free loopback ports, stopped when
// the test ends. The sentinels fail the master over about a second after
// it dies.
type SentinelSet struct {
	t         testing.TB
	Name      string
	Master    *Server
	Replica   *Server
	Sentinels []*Server
}

// StartSentinel starts the master, its replica and the sentinels, and
// waits until the replica is in sync and every sentinel knows both.
func StartSentinel(t testing.TB, opts Options) *SentinelSet {
	t.Helper()
	set := &SentinelSet{t: t, Name: "livedrop"}
	set.Master = Start(t, opts)
	set.Replica = launch(t, opts, func(s *Server) {
		s.extra = []string{"--replicaof", "127.0.0.1", strconv.Itoa(set.Master.port)}
	})
	for range 3 {
		set.Sentinels = append(set.Sentinels, launch(t, Options{}, func(s *Server) {
			conf := filepath.Join(s.dir, "sentinel.conf")
			body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\n"+
				"sentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n", set.Name, set.Master.port, set.Name, set.Name, set.Name)
			if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
				t.Fatalf("redistest: sentinel config: %v", err)
			}
			s.sentinelConf = conf
		}))
	}
	set.waitSynced(set.Replica, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range set.Sentinels {
		for {
			res, err := command(s.Addr(), "sentinel", "replicas", set.Name)
			if err == nil && strings.Contains(fmt.Sprint(res), strconv.Itoa(set.Replica.port)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: sentinel %s does not know the replica: %v %v", s.Addr(), res, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return set
}

// Addrs lists the sentinels' host:port.
func (set *SentinelSet) Addrs() []string {
	out := make([]string, len(set.Sentinels))
	for i, s := range set.Sentinels {
		out[i] = s.Addr()
	}
	return out
}

// waitSynced waits until the master sees replica online.
func (set *SentinelSet) waitSynced(replica *Server, d time.Duration) {
	set.t.Helper()
	deadline := time.Now().Add(d)
	for {
		info, err := command(set.Master.Addr(), "info", "replication")
		if err == nil && strings.Contains(fmt.Sprint(info), "port="+strconv.Itoa(replica.port)+",state=online") {
			return
		}
		if time.Now().After(deadline) {
			set.t.Fatalf("redistest: replica %s not in sync: %v %v", replica.Addr(), info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// KillMaster kills (SIGKILL) the master and waits until the sentinels have
// promoted the replica; then it restarts the old master, which the
// sentinels turn into the new master's replica, and waits for it to sync.
func (set *SentinelSet) KillMaster() {
	set.t.Helper()
	old := set.Master
	old.Stop()
	deadline := time.Now().Add(30 * time.Second)
	// The old master comes back only once the failover is over: every
	// sentinel names the promoted replica and it acts as master. Back
	// sooner, it can win the sentinels' vote again and demote it.
	for {
		done := true
		var res any
		var err error
		for _, s := range set.Sentinels {
			res, err = command(s.Addr(), "sentinel", "get-master-addr-by-name", set.Name)
			done = done && err == nil && strings.Contains(fmt.Sprint(res), strconv.Itoa(set.Replica.port))
		}
		if done {
			info, ierr := command(set.Replica.Addr(), "info", "replication")
			res, err = info, ierr
			done = ierr == nil && strings.Contains(fmt.Sprint(info), "role:master")
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			set.t.Fatalf("redistest: no failover within 30 s: %v %v", res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	set.Master, set.Replica = set.Replica, old
	old.Restart()
	set.waitSynced(old, 30*time.Second)
}
