package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoServesGiveaways runs the demo and checks the giveaway wiring: the
// seller starts one at the origin with the control token, the edge shows
// it and refuses a guest who is not watching with the reason.
func TestDemoServesGiveaways(t *testing.T) {
	const token = "giveaway-app-token-0123456789"
	env := map[string]string{
		"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_CONTROL_TOKEN": token, "LIVEDROP_CAMERA": "false",
		"LIVEDROP_ORIGIN_HTTP_ADDR": "127.0.0.1:0", "LIVEDROP_EDGE_HTTP_ADDR": "127.0.0.1:0",
		"LIVEDROP_RTSP_ADDR":           "127.0.0.1:0",
		"LIVEDROP_ORIGIN_ICE_UDP_PORT": strconv.Itoa(freeUDPPort(t)),
		"LIVEDROP_EDGE_ICE_UDP_PORT":   strconv.Itoa(freeUDPPort(t)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"demo"}, Env{Stdout: io.Discard, Stderr: io.Discard, Lookup: envOf(env),
			Ready: func(a Addrs) { ready <- a }})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("demo did not stop")
		}
	}()
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start")
	}
	call := func(method, url, auth, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	origin, edge := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	code, started := call("POST", origin+"/v1/giveaways", token, `{"id":"g1","stream":"demo","rule":"present","prize":{"name":"A cap"}}`)
	if code != http.StatusCreated || len(started["commitment"].(string)) != 64 {
		t.Fatalf("start: %d %v", code, started)
	}
	if code, got := call("GET", edge+"/v1/giveaways/g1", "", ""); code != http.StatusOK || got["commitment"] != started["commitment"] || got["state"] != "open" {
		t.Fatalf("edge read: %d %v", code, got)
	}
	code, guest := call("POST", edge+"/v1/signin/guest", "", `{"device":"giveaway-test-device-01"}`)
	if code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("guest sign-in: %d %v", code, guest)
	}
	code, refused := call("POST", edge+"/v1/giveaways/g1/entries", guest["session"].(string), "")
	if code != http.StatusForbidden || refused["code"] != "not_eligible" || refused["why"] != "not_watching" {
		t.Fatalf("entry without watching: %d %v", code, refused)
	}
	if code, got := call("POST", origin+"/v1/giveaways/g1/draw", token, ""); code != http.StatusConflict || got["code"] != "no_entrants" {
		t.Fatalf("draw with nobody in: %d %v", code, got)
	}
}
