// Package archtest keeps the module's shape: which packages may import
// which. It has only tests.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "github.com/livedrop/livedrop/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, "github.com/livedrop/livedrop/")] = p
	}
	return pkgs
}

// above lists the rooms that stand on the media leaves: none of the
// leaves may depend on them. The caller's own name is left out.
func above(self string) []string {
	const mod = "github.com/livedrop/livedrop/"
	var out []string
	for _, p := range []string{"internal/whep", "internal/peer", "edge", "origin", "internal/app"} {
		if p != "internal/"+self {
			out = append(out, mod+p)
		}
	}
	return out
}

func has(list []string, prefix string) bool {
	for _, s := range list {
		if s == prefix || strings.HasPrefix(s, prefix+"/") {
			return true
		}
	}
	return false
}

// TestDependencies: an edge never depends on the origin (nor the other way
// round); the packages that hold the rules import no protocol, and none of
// them depends on a node; the media rooms stand on each other bottom up
// (udpbatch, srtpdirect, fanout, peer, whep) and only whep speaks HTTP.
func TestDependencies(t *testing.T) {
	pkgs := list(t)
	const mod = "github.com/livedrop/livedrop/"
	rules := []struct {
		pkg       string
		noDeps    []string // not even transitively
		noImports []string // not directly
	}{
		{pkg: "edge", noDeps: []string{mod + "origin"}},
		{pkg: "origin", noDeps: []string{mod + "edge"}},
		{pkg: "checkout", noDeps: []string{mod + "edge", mod + "origin", mod + "overlay", mod + "internal/whep"},
			noImports: []string{"net/http", "github.com/gorilla/websocket", "github.com/pion/webrtc/v4"}},
		{pkg: "overlay", noDeps: []string{mod + "edge", mod + "origin", mod + "internal/whep", mod + "checkout/checkouthttp"},
			noImports: []string{"net/http", "github.com/gorilla/websocket", "github.com/pion/webrtc/v4"}},
		// Who buys: sessions, codes and records know no protocol and no node.
		{pkg: "internal/buyer", noDeps: []string{mod + "edge", mod + "origin", mod + "checkout", mod + "internal/buyer/buyerhttp", mod + "internal/buyer/buyermail"},
			noImports: []string{"net/http", "net/smtp"}},
		{pkg: "internal/stream", noDeps: []string{"net/http", "github.com/pion/webrtc/v4", mod + "origin", mod + "edge"}},
		{pkg: "internal/avc", noDeps: []string{"net/http", "github.com/pion/webrtc/v4"}},
		// The buyers' proofs are rules: no protocol, no media room, no checkout.
		{pkg: "internal/proof", noDeps: []string{"github.com/pion/webrtc/v4", mod + "internal/whep", mod + "checkout"},
			noImports: []string{"net/http"}},
		// Pages take stream names from the domain, not from the WebRTC adapter.
		{pkg: "internal/webui", noDeps: []string{mod + "internal/whep", "github.com/pion/webrtc/v4"}},
		// The stream facts every room shares import nothing of the project.
		{pkg: "internal/media", noDeps: []string{strings.TrimSuffix(mod, "/"), "net/http", "github.com/pion/webrtc/v4"}},
		// The media rooms, bottom up: the socket, the sealer and the
		// engine know no WebRTC stack and no room above them; pion's
		// API lives in peer; only whep, the signalling, speaks HTTP.
		{pkg: "internal/udpbatch", noDeps: append(above("udpbatch"), "github.com/pion/webrtc/v4", mod+"internal/srtpdirect", mod+"internal/fanout"),
			noImports: []string{"net/http"}},
		{pkg: "internal/srtpdirect", noDeps: append(above("srtpdirect"), "github.com/pion/webrtc/v4", mod+"internal/udpbatch", mod+"internal/fanout"),
			noImports: []string{"net/http"}},
		{pkg: "internal/fanout", noDeps: append(above("fanout"), "github.com/pion/webrtc/v4", mod+"internal/udpbatch", mod+"internal/srtpdirect"),
			noImports: []string{"net/http"}},
		{pkg: "internal/peer", noDeps: append(above("peer"), mod+"internal/fanout"),
			noImports: []string{"net/http"}},
		// WHIP ingest stands on peer beside whep; neither knows the other
		// or a node.
		{pkg: "internal/whip", noDeps: []string{mod + "internal/whep", mod + "internal/fanout", mod + "origin", mod + "edge", mod + "internal/app"}},
		{pkg: "internal/whep", noDeps: []string{mod + "internal/whip", mod + "origin", mod + "edge", mod + "internal/app"}},
	}
	for _, r := range rules {
		p, ok := pkgs[r.pkg]
		if !ok {
			t.Errorf("package %s not found", r.pkg)
			continue
		}
		for _, d := range r.noDeps {
			if has(p.Deps, d) {
				t.Errorf("%s depends on %s", r.pkg, d)
			}
		}
		for _, d := range r.noImports {
			if has(p.Imports, d) {
				t.Errorf("%s imports %s: the rules packages know no protocol; that belongs in an adapter", r.pkg, d)
			}
		}
	}
}
