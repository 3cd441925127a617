package overlayhttp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livedrop/livedrop/overlay"
)

// FuzzEventsClientFrames opens the events WebSocket with a real handshake
// on a TCP connection and sends fuzzed bytes as the client's frames.
// Properties: the server never panics; once the client has finished
// sending, the server closes the socket within 5 s (it never waits on a
// half-read frame forever); every close frame it sends carries a code
// RFC 6455 allows on the wire (TestEventsOversizedFragmentsRefused checks
// 1009 for a message over the read limit); and a new client
// still gets the stream's state.
//
// Seeds are frames as a browser sends them (masked): a small text message,
// ping, pong, a close with 1001 "going away", a fragmented message, one
// over the 4 KiB read limit and an unmasked frame (a protocol error).
func FuzzEventsClientFrames(f *testing.F) {
	srv, _ := originServer(f, overlay.Defaults())
	addr := strings.TrimPrefix(srv.URL, "http://")
	url := "ws://" + addr + "/v1/streams/cam1/events"
	f.Fuzz(func(t *testing.T, frames []byte) {
		out, err := rawEvents(t, addr, frames)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server kept the socket open 5 s after the client's last frame (%q)", frames)
		}
		for _, code := range closeCodes(t, out) {
			// RFC 6455 7.4: a code that may be sent (the server echoes a
			// client's own 3000-4999 code).
			if !(code >= 1000 && code <= 1003 || code >= 1007 && code <= 1011 || code >= 3000 && code <= 4999) {
				t.Fatalf("server closed with code %d", code)
			}
		}
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		fresh, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("after %q a new client cannot connect: %v", frames, err)
		}
		defer fresh.Close()
		fresh.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := fresh.ReadMessage()
		if err != nil {
			t.Fatalf("after %q a new client gets no state: %v", frames, err)
		}
		if m, err := overlay.DecodeMessage(b); err != nil || m.Type != overlay.TypeState {
			t.Fatalf("new client's first message %q (%v), want the state", b, err)
		}
	})
}

// rawEvents opens the events socket of cam1 with a real handshake, sends
// frames, ends its side and returns what the server sent until it closed.
func rawEvents(t testing.TB, addr string, frames []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /v1/streams/cam1/events HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://"+addr+"\r\n\r\n")
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	_, _ = c.Write(frames)
	_ = c.(*net.TCPConn).CloseWrite()
	return io.ReadAll(r)
}

// TestEventsOversizedFragmentsRefused: a message over the read limit is
// refused with 1009 whether it comes whole or in fragments each under it.
func TestEventsOversizedFragmentsRefused(t *testing.T) {
	srv, _ := originServer(t, overlay.Defaults())
	addr := strings.TrimPrefix(srv.URL, "http://")
	seeds := eventsSeeds()
	// Each is cut after the header of the frame that goes over: the
	// server refuses on the header, and nothing is left unread (which
	// would make its close a reset).
	for name, cut := range map[string]int{"over-the-limit": 8, "fragments-over-the-limit": 8 + 3000 + 8} {
		out, err := rawEvents(t, addr, seeds[name][:cut])
		if err != nil && !strings.Contains(err.Error(), "connection reset") {
			// A reset is the server closing with the rest of the message
			// unread; the close frame came before it.
			t.Fatalf("%s: %v", name, err)
		}
		if codes := closeCodes(t, out); len(codes) != 1 || codes[0] != websocket.CloseMessageTooBig {
			t.Fatalf("%s: server closed with %v, want [1009]", name, codes)
		}
	}
	out, _ := rawEvents(t, addr, seeds["text-hello"])
	if codes := closeCodes(t, out); len(codes) != 0 {
		t.Fatalf("a small message then EOF: close codes %v, want none (the socket just ends)", codes)
	}
}

// closeCodes walks the server's (unmasked) frames and returns the codes of
// its close frames; frames cut short at the end are ignored.
func closeCodes(t testing.TB, out []byte) []int {
	var codes []int
	for len(out) >= 2 {
		op, n := out[0]&0x0f, int(out[1]&0x7f)
		if out[1]&0x80 != 0 {
			t.Fatalf("server frame is masked: %x", out[:2])
		}
		hdr := 2
		switch n {
		case 126:
			if len(out) < 4 {
				return codes
			}
			n, hdr = int(binary.BigEndian.Uint16(out[2:])), 4
		case 127:
			if len(out) < 10 {
				return codes
			}
			n, hdr = int(binary.BigEndian.Uint64(out[2:])), 10
		}
		if n < 0 || len(out) < hdr+n {
			return codes
		}
		if op == websocket.CloseMessage && n >= 2 {
			codes = append(codes, int(binary.BigEndian.Uint16(out[hdr:])))
		}
		out = out[hdr+n:]
	}
	return codes
}

// clientFrame is one masked client frame (RFC 6455 section 5.2).
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 1<<16:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	key := []byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// TestEventsClientFrameSeeds keeps the seed corpus honest: the seeds are
// the frames clientFrame makes (LIVEDROP_WRITE_SEEDS=1 writes them).
func TestEventsClientFrameSeeds(t *testing.T) {
	const dir = "testdata/fuzz/FuzzEventsClientFrames/"
	for name, data := range eventsSeeds() {
		if os.Getenv("LIVEDROP_WRITE_SEEDS") != "" {
			_ = os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(dir+name, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := readSeed(dir + name)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("seed %s differs from its frames", name)
		}
	}
}

// readSeed reads a one-value []byte corpus file.
func readSeed(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
	if !ok || !strings.HasSuffix(v, ")") {
		return nil, fmt.Errorf("not a []byte corpus file")
	}
	q, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
	return []byte(q), err
}

func eventsSeeds() map[string][]byte {
	closePayload := binary.BigEndian.AppendUint16(nil, websocket.CloseGoingAway)
	return map[string][]byte{
		"text-hello":     clientFrame(true, websocket.TextMessage, []byte(`{"hello":1}`)),
		"ping-pong":      append(clientFrame(true, websocket.PingMessage, []byte("keepalive")), clientFrame(true, websocket.PongMessage, nil)...),
		"close-1001":     clientFrame(true, websocket.CloseMessage, append(closePayload, "going away"...)),
		"fragmented":     append(clientFrame(false, websocket.TextMessage, []byte(`{"a":`)), clientFrame(true, 0, []byte(`1}`))...),
		"over-the-limit": clientFrame(true, websocket.BinaryMessage, bytes.Repeat([]byte("x"), 5000)),
		"fragments-over-the-limit": append(append(clientFrame(false, websocket.TextMessage, bytes.Repeat([]byte("y"), 3000)),
			clientFrame(false, 0, bytes.Repeat([]byte("y"), 3000))...), clientFrame(true, 0, []byte("z"))...),
		"unmasked":   {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'},
		"half-frame": clientFrame(true, websocket.TextMessage, []byte(`{"hello":1}`))[:8],
	}
}
