package udpbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// Packets written through the media socket reach every destination whole
// and in order, and a run of equal-size packets to one destination leaves
// in fewer datagrams than packets (GSO); without GSO (a kernel that
// refuses it), one datagram per packet.
func TestSendConnDeliversInOrderWithGSO(t *testing.T) {
	for _, gso := range []bool{true, false} {
		t.Run(fmt.Sprintf("gso=%v", gso), func(t *testing.T) { testSendConnDelivers(t, gso) })
	}
}

// newTestSendConn is a media socket on loopback with its counters, closed
// when the test ends.
func newTestSendConn(t *testing.T) (*Conn, *SendStats) {
	t.Helper()
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	stat := &SendStats{}
	c, err := New(raw, slog.Default(), stat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, stat
}

func testSendConnDelivers(t *testing.T, gso bool) {
	c, stat := newTestSendConn(t)
	if gso && !c.gso {
		t.Fatal("the kernel here refuses UDP GSO (UDP_SEGMENT)")
	}
	c.gso = gso // before the first write; the flusher reads it after

	const dests, frames, perFrame = 8, 40, 7
	type got struct {
		mu   sync.Mutex
		pkts [][]byte
	}
	recv := make([]*got, dests)
	addrs := make([]netip.AddrPort, dests)
	var wg sync.WaitGroup
	for d := range dests {
		rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_ = rc.SetReadBuffer(4 << 20)
		defer rc.Close()
		addrs[d] = rc.LocalAddr().(*net.UDPAddr).AddrPort()
		recv[d] = &got{}
		wg.Add(1)
		go func(g *got, rc *net.UDPConn) {
			defer wg.Done()
			buf := make([]byte, 65536)
			for {
				_ = rc.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := rc.Read(buf)
				if err != nil {
					return
				}
				g.mu.Lock()
				g.pkts = append(g.pkts, append([]byte(nil), buf[:n]...))
				done := len(g.pkts) == frames*perFrame
				g.mu.Unlock()
				if done {
					return
				}
			}
		}(recv[d], rc)
	}
	// Each destination gets frames of 6 packets of 1212 bytes and a shorter
	// last one, written by one goroutine per destination as sessions do.
	var writers sync.WaitGroup
	for d := range dests {
		writers.Add(1)
		go func(d int) {
			defer writers.Done()
			seq := uint32(0)
			for range frames {
				for i := range perFrame {
					size := 1212
					if i == perFrame-1 {
						size = 300 + d
					}
					p := bytes.Repeat([]byte{byte(d)}, size)
					binary.BigEndian.PutUint32(p, seq)
					seq++
					if _, err := c.WriteToAddrPort(p, addrs[d]); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(d)
	}
	writers.Wait()
	wg.Wait()
	for d, g := range recv {
		if len(g.pkts) != frames*perFrame {
			t.Fatalf("destination %d got %d packets, want %d", d, len(g.pkts), frames*perFrame)
		}
		for i, p := range g.pkts {
			if seq := binary.BigEndian.Uint32(p); seq != uint32(i) {
				t.Fatalf("destination %d: packet %d carries sequence %d", d, i, seq)
			}
			want := 1212
			if i%perFrame == perFrame-1 {
				want = 300 + d
			}
			if len(p) != want || p[len(p)-1] != byte(d) {
				t.Fatalf("destination %d packet %d: %d bytes, want %d", d, i, len(p), want)
			}
		}
	}
	pk, dg := stat.packets.Load(), stat.datagrams.Load()
	if pk != dests*frames*perFrame || stat.errors.Load() != 0 {
		t.Fatalf("stats: %d packets, %d errors", pk, stat.errors.Load())
	}
	if gso && dg*2 > pk {
		t.Fatalf("GSO on but %d packets left in %d datagrams", pk, dg)
	}
	if !gso && dg != pk {
		t.Fatalf("GSO off but %d packets left in %d datagrams", pk, dg)
	}
	t.Logf("%d packets in %d datagrams, %d sendmmsg calls, gso=%v", pk, dg, stat.calls.Load(), c.gso)
}

// A packet to an address nobody listens on is not an error that stops the
// others, and Close sends what is still queued.
func TestSendConnCloseFlushes(t *testing.T) {
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(raw, slog.Default(), &SendStats{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := c.WriteToAddrPort([]byte("hello"), rc.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToAddrPort([]byte("late"), rc.LocalAddr().(*net.UDPAddr).AddrPort()); err == nil {
		t.Fatal("write after close accepted")
	}
	buf := make([]byte, 100)
	_ = rc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := rc.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// The media socket's raw read gives what the net package gives: the
// datagram and its source, for IPv4 and IPv6 sockets; a deadline still
// ends a read with a timeout, and closing the socket ends it with an
// error.
func TestSendConnReads(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			ip := net.IPv4(127, 0, 0, 1)
			if network == "udp6" {
				ip = net.IPv6loopback
			}
			raw, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(raw, slog.Default(), &SendStats{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			peer, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			for _, msg := range []string{"first", "second datagram"} {
				if _, err := peer.WriteToUDP([]byte(msg), c.LocalAddr().(*net.UDPAddr)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1500)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := c.ReadFromAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				if want := peer.LocalAddr().(*net.UDPAddr).AddrPort(); string(buf[:n]) != msg || from != want {
					t.Fatalf("read %q from %v, want %q from %v", buf[:n], from, msg, want)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, _, err := c.ReadFromAddrPort(make([]byte, 1500)); !os.IsTimeout(err) {
				t.Fatalf("read past the deadline: %v, want a timeout", err)
			}
			_ = c.SetReadDeadline(time.Time{})
			done := make(chan error, 1)
			go func() {
				_, _, err := c.ReadFromAddrPort(make([]byte, 1500))
				done <- err
			}()
			_ = c.Close()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read on a closed socket: %v, want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a read did not end when the socket closed")
			}
		})
	}
}
