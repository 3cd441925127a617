package udpbatch

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// A viewer socket with GRO gets the media socket's GSO datagrams whole and
// hands out their packets one by one, in order and byte-exact.
func TestGROConnSplitsCoalescedDatagrams(t *testing.T) {
	send, stat := newTestSendConn(t)
	if !send.gso {
		t.Fatal("the kernel here refuses UDP GSO (UDP_SEGMENT)")
	}
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_ = rc.SetReadBuffer(4 << 20)
	g, ok := WithGRO(rc).(*groConn)
	if !ok {
		t.Fatal("the kernel here refuses UDP GRO")
	}
	dst := rc.LocalAddr().(*net.UDPAddr).AddrPort()

	// Frames of 5 packets of 1200 bytes and a shorter last one.
	var want [][]byte
	for f := range 20 {
		for i := range 6 {
			n := 1200
			if i == 5 {
				n = 300 + f
			}
			p := bytes.Repeat([]byte{byte(f*6 + i)}, n)
			want = append(want, p)
			if _, err := send.WriteToAddrPort(p, dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	buf := make([]byte, 1500)
	for i, w := range want {
		_ = g.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := g.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d of %d: %v", i, len(want), err)
		}
		if from != send.LocalAddr().(*net.UDPAddr).AddrPort() {
			t.Fatalf("packet %d from %v", i, from)
		}
		if !bytes.Equal(buf[:n], w) {
			t.Fatalf("packet %d: got %d bytes of %d, want %d of %d", i, n, buf[0], len(w), w[0])
		}
	}
	if d := stat.datagrams.Load(); d >= uint64(len(want)) {
		t.Fatalf("%d datagrams for %d packets: nothing was coalesced", d, len(want))
	}
	if g.merged == 0 {
		t.Fatal("every datagram arrived as one packet: the kernel split them (GRO not in effect)")
	}
}
