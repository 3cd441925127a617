package whep

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// A trickle PATCH carries an SDP fragment (RFC 8840,
// application/trickle-ice-sdpfrag): ICE credentials, media lines naming
// what the candidates belong to, candidates and an end-of-candidates mark.
// The whole fragment is checked before any candidate reaches the session,
// so a bad one changes nothing.

// maxTrickleCandidates bounds the candidates of one PATCH; a browser sends
// one to a few dozen.
const maxTrickleCandidates = 256

// trickle answers a PATCH body for pc: 413 when it is too large, 400 naming
// the line when it is malformed, else 204 once its candidates are added.
func trickle(w http.ResponseWriter, body io.Reader, pc *webrtc.PeerConnection) {
	data, err := io.ReadAll(io.LimitReader(body, MaxSDPSize+1))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(data) > MaxSDPSize {
		http.Error(w, fmt.Sprintf("trickle fragment over %d bytes", MaxSDPSize), http.StatusRequestEntityTooLarge)
		return
	}
	cands, err := parseTrickle(data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, c := range cands {
		if err := pc.AddICECandidate(c); err != nil {
			http.Error(w, "bad candidate: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseTrickle returns the candidates of a trickle fragment. Lines must be
// SDP ("x=value"); the lines a fragment holds besides candidates (ICE
// credentials, m= and a=mid naming the bundle) are passed over: the
// session's one ICE transport takes every candidate.
func parseTrickle(body []byte) ([]webrtc.ICECandidateInit, error) {
	var cands []webrtc.ICECandidateInit
	for i, raw := range bytes.Split(body, []byte("\n")) {
		line := strings.TrimSuffix(string(raw), "\r")
		if line == "" {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("trickle fragment line %d %q: %s", i+1, clip(line), why)
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return nil, bad(`not an SDP line ("x=value")`)
		}
		if strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return nil, bad("control character")
		}
		if strings.HasPrefix(line, "a=candidate:") {
			value := strings.TrimPrefix(line, "a=candidate:")
			if strings.TrimSpace(value) == "" {
				return nil, bad("no candidate (the end is a=end-of-candidates)")
			}
			if _, err := ice.UnmarshalCandidate(value); err != nil &&
				!errors.Is(err, ice.ErrUnknownCandidateTyp) && !errors.Is(err, ice.ErrDetermineNetworkType) {
				// Unknown types and unresolved (mDNS) addresses are
				// passed on: pion discards them as browsers do.
				return nil, bad(err.Error())
			}
			if len(cands) == maxTrickleCandidates {
				return nil, bad(fmt.Sprintf("more than %d candidates", maxTrickleCandidates))
			}
			cands = append(cands, webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")})
		}
	}
	return cands, nil
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
