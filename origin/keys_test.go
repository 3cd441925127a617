package origin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const testControlToken = "keys-test-control-token-0123"

// keyCall calls the publish key API as the seller's script does.
func keyCall(t *testing.T, o *testOrigin, method, stream, token, query string) (int, keyAnswer) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+o.HTTPAddr()+"/v1/streams/"+stream+"/publish-key"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a keyAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}

// whipAuth offers a (bogus) WHIP body with key: 401 means the key was
// refused, 400 that it passed and the offer was read.
func whipAuth(t *testing.T, o *testOrigin, stream, key string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+o.HTTPAddr()+"/whip/"+stream, strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPublishKeys: a stream given a key through the control API is
// published with that key over RTSP and WHIP, no longer with the shared
// password; a rotation retires the old key; a revoke leaves no way in;
// keys survive a restart and are never logged; the API needs the control
// token.
func TestPublishKeys(t *testing.T) {
	dir := t.TempDir()
	withDir := func(c *Config) { c.DataDir = dir }
	withToken := func(p *Params) { p.ControlToken = testControlToken }
	o := startTestOrigin(t, withDir, withToken)

	if code, _ := keyCall(t, o, "POST", "cam", "", ""); code != 401 {
		t.Fatalf("key API without the control token: %d, want 401", code)
	}
	if code, _ := keyCall(t, o, "POST", "bad%20name", testControlToken, ""); code != 400 {
		t.Fatalf("bad stream name: %d, want 400", code)
	}
	// Before: the shared password publishes.
	if err := publish(o.Origin, testPubPass); err != nil {
		t.Fatalf("shared password before any key: %v", err)
	}
	code, a := keyCall(t, o, "POST", "cam", testControlToken, "")
	if code != 201 || a.Stream != "cam" || len(a.Key) < MinPublishKeyLen {
		t.Fatalf("create key: %d %+v", code, a)
	}
	first := a.Key
	if err := publish(o.Origin, testPubPass); err == nil {
		t.Fatal("the shared password still publishes a stream with its own key")
	}
	if err := publish(o.Origin, first); err != nil {
		t.Fatalf("RTSP with the stream's key: %v", err)
	}
	if code := whipAuth(t, o, "cam", testPubPass); code != 401 {
		t.Fatalf("WHIP with the shared password: %d, want 401", code)
	}
	if code := whipAuth(t, o, "cam", first); code != 400 {
		t.Fatalf("WHIP with the stream's key: %d, want the key accepted (400 for the bogus offer)", code)
	}
	if code := whipAuth(t, o, "other", testPubPass); code != 400 {
		t.Fatalf("another stream with the shared password: %d, want accepted", code)
	}

	code, a = keyCall(t, o, "POST", "cam", testControlToken, "")
	if code != 201 || a.Key == first {
		t.Fatalf("rotate: %d %+v", code, a)
	}
	second := a.Key
	if code := whipAuth(t, o, "cam", first); code != 401 {
		t.Fatalf("the rotated-out key: %d, want 401", code)
	}
	if strings.Contains(o.logs.String(), first) || strings.Contains(o.logs.String(), second) {
		t.Fatal("a publish key is in the log")
	}

	// The key survives a restart on the same data dir.
	o2 := startTestOrigin(t, withDir, withToken)
	if code := whipAuth(t, o2, "cam", second); code != 400 {
		t.Fatalf("after a restart the key: %d, want accepted", code)
	}
	if code, a := keyCall(t, o2, "DELETE", "cam", testControlToken, ""); code != 200 || !a.Revoked {
		t.Fatalf("revoke: %d %+v", code, a)
	}
	for _, k := range []string{second, testPubPass} {
		if code := whipAuth(t, o2, "cam", k); code != 401 {
			t.Fatalf("a revoked stream took a key: %d", code)
		}
	}
	if err := publish(o2.Origin, testPubPass); err == nil {
		t.Fatal("a revoked stream was published over RTSP")
	}
}

func TestPublishKeysConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Access.NodeSecrets = []string{testNodeSecret}
	cfg.PublishPassword, cfg.RTSPReadOpen = "x", true
	cfg.PublishKeys = map[string]string{"cam": "short"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "publish_keys.cam") {
		t.Fatalf("short key: %v", err)
	}
	cfg.PublishKeys = map[string]string{"bad name": "long-enough-key-0123"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "publish_keys") {
		t.Fatalf("bad stream: %v", err)
	}
}
