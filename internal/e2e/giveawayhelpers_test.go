package e2e

import (
	"encoding/hex"
	"net/http"
	"testing"
)

// enter posts buyer's giveaway entry at an edge with its watch proof
// ("" none) and checks the status.
func enter(t *testing.T, edgeURL, id, buyer, proof string, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest("POST", edgeURL+"/v1/giveaways/"+id+"/entries", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", signedIn(t).Bearer(buyer))
	if proof != "" {
		req.Header.Set("Watch-Proof", proof)
	}
	st, body := getJSON(t, req)
	if st != want {
		t.Fatalf("entry of %s in %s: %d %v, want %d", buyer, id, st, body, want)
	}
	return body
}

func getJSONURL(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return getJSON(t, req)
}

func mustHexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
