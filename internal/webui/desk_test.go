package webui

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestDeskWorkerCachesTheDeskPage: the desk's service worker is served from
// the root (its scope /desk is under it), revalidated, and lists exactly the
// versioned assets desk.html names, so the page it keeps offline loads.
func TestDeskWorkerCachesTheDeskPage(t *testing.T) {
	srv := newConsoleServer(t)
	res, page := get(t, srv.URL+"/desk?desk=a", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("desk: status %d", res.StatusCode)
	}
	res, sw := get(t, srv.URL+DeskWorkerPath, nil)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
		res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("worker: status %d, %q, %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	refs := regexp.MustCompile(`(?:src|href)="(/console/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) != len(deskAssets) {
		t.Fatalf("desk.html names %d assets, the worker caches %d: %v", len(refs), len(deskAssets), refs)
	}
	for _, r := range refs {
		if !strings.Contains(sw, `"`+r[1]+`"`) {
			t.Errorf("the worker does not cache %s", r[1])
		}
		if res, _ := get(t, srv.URL+r[1], nil); res.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", r[1], res.StatusCode)
		}
	}
	if !strings.Contains(page, "desk.js") || !strings.Contains(sw, "const PAGE = '/desk';") {
		t.Error("the worker does not keep the desk page")
	}
}
