package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/redistest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// livedropBinary builds cmd/livedrop once per test run.
func livedropBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livedrop-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "livedrop")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/livedrop/livedrop/cmd/livedrop").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// node is a livedrop process.
type node struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
	url  string

	role  string
	env   map[string]string        // configuration but ports
	ports map[string]string        // the ports it listens on, by variable
	fresh func() map[string]string // probes new ports
}

// startNode starts a livedrop process configured by env and the ports
// fresh probes, on other ports if one is taken before the child binds it.
func startNode(t *testing.T, role string, env map[string]string, fresh func() map[string]string) *node {
	t.Helper()
	return startNodeOn(t, role, env, fresh, fresh())
}

// restart starts n's role again, on its data and its ports, or on fresh
// ports if they are taken by now.
func (n *node) restart(t *testing.T) *node {
	t.Helper()
	return startNodeOn(t, n.role, n.env, n.fresh, n.ports)
}

func startNodeOn(t *testing.T, role string, env map[string]string, fresh func() map[string]string, ports map[string]string) *node {
	t.Helper()
	var n *node
	tries := 0
	bindAttempts(t, "start "+role, func() error {
		if tries++; tries > 1 {
			ports = fresh()
		}
		var err error
		n, err = tryNode(t, role, env, ports)
		return err
	})
	n.fresh = fresh
	return n
}

// tryNode starts the process and waits until it is ready; a process that
// exits first fails on errPortTaken if it could not bind a port.
func tryNode(t *testing.T, role string, env, ports map[string]string) (*node, error) {
	t.Helper()
	n := &node{cmd: exec.Command(livedropBinary(t), role), logs: &lockedBuffer{}, done: make(chan error, 1),
		url: "http://" + ports["LIVEDROP_HTTP_ADDR"], role: role, env: env, ports: ports}
	n.cmd.Env = os.Environ()
	for _, m := range []map[string]string{env, ports} {
		for k, v := range m {
			n.cmd.Env = append(n.cmd.Env, k+"="+v)
		}
	}
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	t.Cleanup(func() { _ = n.cmd.Process.Kill() })
	var exited error
	waitFor(t, 20*time.Second, role+" /readyz", func() bool {
		select {
		case err := <-n.done:
			exited = fmt.Errorf("%s exited: %v\n%s", role, err, n.logs.String())
			return true
		default:
		}
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	switch {
	case exited == nil:
		return n, nil
	case strings.Contains(n.logs.String(), "address already in use"):
		return nil, fmt.Errorf("%w: %w", errPortTaken, exited)
	default:
		return nil, exited
	}
}

func (n *node) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("process did not exit within 20 s of %v", sig)
		return nil
	}
}

// TestProcessesSurviveSIGKILL runs the real binary as separate origin and
// edge processes configured by environment, as deploy files do: video
// flows, orders answered 201 survive the edge being killed with SIGKILL
// and restarted, nothing is oversold, and SIGTERM drains both to exit 0.
func TestProcessesSurviveSIGKILL(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{AppendOnly: true})
	const token = "process-test-token-0123"
	loopback := func() string { return fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)) }
	origin := startNode(t, "origin", map[string]string{
		"LIVEDROP_RTSP_UDP_RTP_ADDR": "", "LIVEDROP_RTSP_UDP_RTCP_ADDR": "", "LIVEDROP_ICE_UDP_PORT": "0",
		"LIVEDROP_PUBLISH_PASSWORD": pubPass, "LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_CONTROL_TOKEN": token,
		"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_NODE_SECRET": nodeSecret,
		"LIVEDROP_READ_USER": readUser, "LIVEDROP_READ_PASSWORD": readPass,
	}, func() map[string]string {
		return map[string]string{"LIVEDROP_HTTP_ADDR": loopback(), "LIVEDROP_RTSP_ADDR": loopback()}
	})
	rtspAddr := origin.ports["LIVEDROP_RTSP_ADDR"]
	edge := startNode(t, "edge", map[string]string{
		"LIVEDROP_ORIGIN_URL": origin.url, "LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_NODE_SECRET": nodeSecret,
		"LIVEDROP_REGION": "eu-test", "LIVEDROP_NODE_ID": "edge-a", "LIVEDROP_DATA_DIR": t.TempDir(),
		"LIVEDROP_SESSION_SECRET": buyertest.Secret,
	}, func() map[string]string {
		return map[string]string{"LIVEDROP_HTTP_ADDR": loopback(), "LIVEDROP_ICE_UDP_PORT": fmt.Sprint(freeUDPPort(t))}
	})

	// Media through both processes.
	pub := startFFmpeg(t, encodeArgs(30), fmt.Sprintf("rtsp://%s:%s@%s/cam", pubUser, pubPass, rtspAddr))
	var v *viewer
	waitFor(t, 20*time.Second, "the stream at the edge", func() bool {
		select {
		case <-pub.done:
			t.Fatalf("ffmpeg exited: %s", pub.stderr.String())
		default:
		}
		var err error
		v, err = dialViewer(t, edge.url+"/whep/cam")
		return err == nil
	})
	waitFor(t, 15*time.Second, "video at the viewer", func() bool { return v.frames() > 30 })

	// A drop of 30 units; 12 orders answered 201 at the edge.
	call(t, "POST", origin.url+"/v1/drops", token, `{"id":"px","stream":"cam","skus":[{"sku":"tee","name":"Tee","price_cents":900,"currency":"EUR","stock":30,"max_per_buyer":5}]}`, 201)
	call(t, "POST", origin.url+"/v1/drops/px/open", token, "", 200)
	var acked []string
	order := func(i int) (int, string) {
		req, _ := http.NewRequest("POST", edge.url+"/v1/drops/px/orders", strings.NewReader(fmt.Sprintf(`{"sku":"tee","qty":1,"buyer":"b%d"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("k%d", i))
		req.Header.Set("Authorization", signedIn(t).Bearer(fmt.Sprintf("b%d", i)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		var o struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&o)
		return resp.StatusCode, o.ID + "?token=" + o.Token // what reads the order back
	}
	for i := 0; i < 12; i++ {
		code, id := order(i)
		if code != 201 {
			t.Fatalf("order %d: %d", i, code)
		}
		acked = append(acked, id)
	}

	// SIGKILL the edge: no drain, no lease returned. Restart it on its data.
	if err := edge.signal(t, syscall.SIGKILL); err == nil {
		t.Fatal("a SIGKILLed process reported success")
	}
	edge = edge.restart(t)
	// Order tokens minted before the kill still read the orders: they are
	// derived from the node secret, not kept in memory.
	for _, ref := range acked {
		call(t, "GET", edge.url+"/v1/orders/"+ref, "", "", 200)
	}
	// Buyers keep coming until the drop is sold out: never more than 30.
	sold := len(acked)
	for i := 12; i < 60; i++ {
		code, _ := order(i)
		switch code {
		case 201:
			sold++
		case 409:
		default:
			t.Fatalf("order %d after restart: %d", i, code)
		}
	}
	if sold != 30 {
		t.Fatalf("%d units sold of 30: stock stranded or oversold", sold)
	}
	var totals struct {
		SKUs []struct {
			Sold   int `json:"sold"`
			Orders int `json:"orders"`
		} `json:"skus"`
	}
	waitFor(t, 15*time.Second, "Redis to hold every acknowledged order", func() bool {
		_ = json.Unmarshal([]byte(call(t, "GET", origin.url+"/v1/drops/px", token, "", 200)), &totals)
		return len(totals.SKUs) == 1 && totals.SKUs[0].Sold == 30 && totals.SKUs[0].Orders == 30
	})

	// SIGTERM drains: both exit 0.
	if err := edge.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("edge after SIGTERM: %v\n%s", err, edge.logs.String())
	}
	if err := origin.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("origin after SIGTERM: %v\n%s", err, origin.logs.String())
	}
}
