package origin

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
)

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestHandshakeDeadlineClosesSilentConnection(t *testing.T) {
	o := startTestOrigin(t, func(c *Config) { c.RTSPHandshakeTimeout = 300 * time.Millisecond })
	silent, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	if !closedWithin(silent, 5*time.Second) {
		t.Fatal("a silent connection stayed open 5 s")
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the 300 ms deadline", el)
	}
	// Talking but never playing or recording does not extend it.
	chatty, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer chatty.Close()
	start = time.Now()
	for i := 1; ; i++ {
		if _, err := rtspRequest(chatty, "OPTIONS", "rtsp://"+o.RTSPAddr()+"/", i, nil); err != nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("a client sending OPTIONS was kept 5 s without playing")
		}
		time.Sleep(50 * time.Millisecond) // the client's pace, not synchronisation
	}
	waitFor(t, 5*time.Second, "handshake timeouts counted", func() bool {
		return counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "handshake_timeout"}) == 2
	})
	// A publisher that records is not cut at the deadline.
	desc := &description.Session{Medias: []*description.Media{{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}},
	}}}
	pub := &gortsplib.Client{Transport: ptr(gortsplib.TransportTCP)}
	if err := pub.StartRecording(fmt.Sprintf("rtsp://seller:%s@%s/cam", testPubPass, o.RTSPAddr()), desc); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	waitErr := make(chan error, 1)
	go func() { waitErr <- pub.Wait() }()
	select {
	case err := <-waitErr:
		t.Fatalf("recording publisher cut: %v", err)
	case <-time.After(time.Second): // three deadlines' worth of recording
	}
}

func TestPerAddressConnectionCap(t *testing.T) {
	o := startTestOrigin(t, func(c *Config) { c.RTSPMaxConnsPerIP = 2 })
	url := "rtsp://" + o.RTSPAddr() + "/"
	held := holdConns(t, o, 2)
	refusedBefore := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns_per_ip"})
	third, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := rtspRequest(third, "OPTIONS", url, 1, nil); err == nil {
		t.Fatal("a third connection from one address was served")
	}
	if n := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns_per_ip"}); n != refusedBefore+1 {
		t.Fatalf("max_conns_per_ip = %v, want %v", n, refusedBefore+1)
	}
	held[0].Close()
	waitFor(t, 5*time.Second, "a place to free up", func() bool {
		c, err := net.Dial("tcp", o.RTSPAddr())
		if err != nil {
			return false
		}
		defer c.Close()
		res, err := rtspRequest(c, "OPTIONS", url, 1, nil)
		return err == nil && res.status == 200
	})
}

// holdConns opens n RTSP connections that are served, retrying while
// earlier connections (startTestOrigin's probe) still hold places.
func holdConns(t *testing.T, o *testOrigin, n int) []net.Conn {
	t.Helper()
	url := "rtsp://" + o.RTSPAddr() + "/"
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	waitFor(t, 5*time.Second, fmt.Sprintf("%d connections served", n), func() bool {
		c, err := net.Dial("tcp", o.RTSPAddr())
		if err != nil {
			return false
		}
		if res, err := rtspRequest(c, "OPTIONS", url, 1, nil); err != nil || res.status != 200 {
			c.Close()
			return false
		}
		held = append(held, c)
		return len(held) == n
	})
	return held
}
