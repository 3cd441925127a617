package archtest

import (
	"sort"
	"strings"
	"testing"
)

// TestDomainRoomsSpeakNoHTTP: under checkout/ and overlay/ only the HTTP
// adapters (…http) import net/http; load generators and other tools that
// speak HTTP live under internal/ or cmd/.
func TestDomainRoomsSpeakNoHTTP(t *testing.T) {
	pkgs := list(t)
	var names []string
	for name := range pkgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasPrefix(name, "checkout") && !strings.HasPrefix(name, "overlay") {
			continue
		}
		last := name[strings.LastIndexByte(name, '/')+1:]
		if strings.HasSuffix(last, "http") || last == "e2e" {
			continue
		}
		if has(pkgs[name].Imports, "net/http") {
			t.Errorf("%s imports net/http: only its HTTP adapter may", name)
		}
	}
}
