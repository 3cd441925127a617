package srtpdirect

import (
	"bytes"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/udpbatch"
	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// TestWriteRunSealsInPlace: runs of packets sealed straight into the media
// socket's send batch (Path.WriteRun, udpbatch.Conn.Reserve) reach the
// player whole, in order, and open with pion's SRTP context: a frame's
// pieces padded to one size with its audio after them, and a run longer
// than a batch holds, which leaves in several reservations.
func TestWriteRunSealsInPlace(t *testing.T) {
	for _, profile := range []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM} {
		t.Run(srtp.ProtectionProfile(profile).String(), func(t *testing.T) { testWriteRun(t, profile) })
	}
}

func testWriteRun(t *testing.T, profile dtls.SRTPProtectionProfile) {
	kc := &KeyCapture{}
	_, client := dtlsPair(t, profile, kc)
	open := playerContext(t, client, profile)

	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	stat := &udpbatch.SendStats{}
	sc, err := udpbatch.New(raw, slog.Default(), stat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	player, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer player.Close()
	udpbatch.SetSocketBuffers(player, 8<<20) // the whole test's packets wait in it
	d, err := NewPath(kc, sc, player.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}

	const video, audio = 0x1111, 0x2222
	var want []rtp.Packet
	seq := map[uint32]uint16{}
	pkt := func(ssrc, ts uint32, size int) Packet {
		seq[ssrc]++
		h := rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq[ssrc], Timestamp: ts, SSRC: ssrc}
		payload := bytes.Repeat([]byte{byte(len(want))}, size)
		want = append(want, rtp.Packet{Header: h, Payload: payload})
		return Packet{Header: &h, Payload: payload}
	}
	frame := []Packet{pkt(video, 3000, 1002), pkt(video, 3000, 1001), pkt(video, 3000, 1001), pkt(audio, 960, 200)}
	if sent, err := d.WriteRun(frame); err != nil || sent != len(frame) {
		t.Fatalf("%d of %d packets sent: %v", sent, len(frame), err)
	}
	var long []Packet
	for i := range udpbatch.BatchPackets + 100 {
		long = append(long, pkt(video, 6000+uint32(i/5)*3000, 300+i%7))
	}
	if sent, err := d.WriteRun(long); err != nil || sent != len(long) {
		t.Fatalf("%d of %d packets sent: %v", sent, len(long), err)
	}

	buf := make([]byte, 1500)
	var wire []int
	for i, w := range want {
		_ = player.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := player.Read(buf)
		if err != nil {
			t.Fatalf("packet %d of %d: %v", i, len(want), err)
		}
		wire = append(wire, n)
		opened, err := open.DecryptRTP(nil, buf[:n], nil)
		if err != nil {
			t.Fatalf("packet %d: the player cannot open it: %v", i, err)
		}
		var got rtp.Packet
		if err := got.Unmarshal(opened); err != nil {
			t.Fatal(err)
		}
		if got.SSRC != w.SSRC || got.SequenceNumber != w.SequenceNumber || got.Timestamp != w.Timestamp || !bytes.Equal(got.Payload, w.Payload) {
			t.Fatalf("packet %d: got ssrc %x seq %d ts %d, %d bytes; want ssrc %x seq %d ts %d, %d bytes",
				i, got.SSRC, got.SequenceNumber, got.Timestamp, len(got.Payload), w.SSRC, w.SequenceNumber, w.Timestamp, len(w.Payload))
		}
	}
	if wire[1] != wire[0] || wire[2] != wire[0] {
		t.Fatalf("a frame's pieces left %d, %d and %d bytes long, not padded to one size", wire[0], wire[1], wire[2])
	}
	if got := stat.Packets(); got != uint64(len(want)) {
		t.Fatalf("the socket counted %d packets, want %d", got, len(want))
	}
	if stat.Datagrams() >= uint64(len(want)) {
		t.Fatalf("%d datagrams for %d packets: no GSO", stat.Datagrams(), len(want))
	}
}
