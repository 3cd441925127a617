package srtpdirect

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// TestKeyCaptureMatchesDTLS runs a real DTLS handshake, as a viewer
// session's (we are the server), and checks that the keys derived from the
// captured handshake are the ones both ends export, for each SRTP profile
// pion offers: a packet the direct path protects is opened by the client's
// SRTP context.
func TestKeyCaptureMatchesDTLS(t *testing.T) {
	for _, profile := range []dtls.SRTPProtectionProfile{
		dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80,
	} {
		t.Run(srtp.ProtectionProfile(profile).String(), func(t *testing.T) {
			kc := &KeyCapture{}
			server, client := dtlsPair(t, profile, kc)

			srvState, ok := server.ConnectionState()
			if !ok {
				t.Fatal("no server state")
			}
			want, err := srvState.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 60)
			if err != nil {
				t.Fatal(err)
			}
			got, err := kc.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 60)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("exported keying material differs from the DTLS connection's:\n got %x\nwant %x", got, want)
			}

			// The direct path protects; the client's SRTP context (pion's)
			// opens, across a sequence number wrap and a retransmission of
			// a packet from before it.
			sink := &packetSink{}
			d, err := NewPath(kc, sink, netip.MustParseAddrPort("127.0.0.1:9"))
			if err != nil {
				t.Fatal(err)
			}
			gcm := profile != dtls.SRTP_AES128_CM_HMAC_SHA1_80
			if (d.gcm != nil) != gcm {
				t.Fatalf("own GCM sealer in use: %v, want %v", d.gcm != nil, gcm)
			}
			recv := playerContext(t, client, profile)
			for i, seq := range []uint16{65533, 65534, 65535, 0, 1, 65535, 2} {
				for _, ssrc := range []uint32{0x1234, 0x5678} {
					h := rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq, Timestamp: 9000 * uint32(i), SSRC: ssrc, Marker: i%2 == 0}
					payload := bytes.Repeat([]byte{byte(i)}, 1000+i)
					if err := d.WriteRTP(&h, payload); err != nil {
						t.Fatal(err)
					}
					opened, err := recv.DecryptRTP(nil, sink.last, nil)
					if err != nil {
						t.Fatalf("packet %d (seq %d, ssrc %x): client cannot open it: %v", i, seq, ssrc, err)
					}
					var got rtp.Packet
					if err := got.Unmarshal(opened); err != nil || !bytes.Equal(got.Payload, payload) || got.SequenceNumber != seq || got.SSRC != ssrc {
						t.Fatalf("packet %d: opened %+v (%v)", i, got.Header, err)
					}
				}
			}
		})
	}
}

// TestEqualizePadsAFramesPieces: the pieces of a frame, which the
// normalizer cuts a byte apart at most, leave padded to one size, so the
// sender joins them, and the audio packet after them, into one GSO
// datagram; the player opens the original payloads.
func TestEqualizePadsAFramesPieces(t *testing.T) {
	kc := &KeyCapture{}
	_, client := dtlsPair(t, dtls.SRTP_AEAD_AES_128_GCM, kc)
	sink := &packetSink{}
	d, err := NewPath(kc, sink, netip.MustParseAddrPort("127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	recv := playerContext(t, client, dtls.SRTP_AEAD_AES_128_GCM)
	const video, audio = 0x1111, 0x2222
	seq := map[uint32]uint16{}
	send := func(ssrc, ts uint32, size int) (wire int, padding byte) {
		t.Helper()
		seq[ssrc]++
		h := rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq[ssrc], Timestamp: ts, SSRC: ssrc}
		payload := bytes.Repeat([]byte{byte(size)}, size)
		if err := d.WriteRTP(&h, payload); err != nil {
			t.Fatal(err)
		}
		wire = len(sink.last)
		opened, err := recv.DecryptRTP(nil, sink.last, nil)
		if err != nil {
			t.Fatalf("%d-byte packet: the player cannot open it: %v", size, err)
		}
		var got rtp.Packet
		if err := got.Unmarshal(opened); err != nil || !bytes.Equal(got.Payload, payload) {
			t.Fatalf("%d-byte packet: opened %d bytes of payload (%v)", size, len(got.Payload), err)
		}
		return wire, got.PaddingSize
	}
	first, _ := send(video, 3000, 1002)
	for _, size := range []int{1001, 1001} {
		if wire, pad := send(video, 3000, size); wire != first || pad != 1 {
			t.Fatalf("piece of %d bytes: %d on the wire with %d bytes of padding, want %d with 1", size, wire, pad, first)
		}
	}
	for _, c := range []struct {
		name     string
		ssrc, ts uint32
		size     int
		padded   bool
	}{
		{"audio after the frame", audio, 960, 200, false},
		{"the next frame", video, 6000, 900, false},
		{"a piece 9 bytes shorter", video, 6000, 891, false},
		{"a longer piece", video, 6000, 950, false},
		{"a piece 8 bytes shorter", video, 6000, 942, true},
	} {
		prev := d.lastLen
		wire, pad := send(c.ssrc, c.ts, c.size)
		if c.padded != (pad > 0) || (c.padded && wire-srtpOverhead != prev) {
			t.Errorf("%s: %d bytes on the wire, %d bytes of padding", c.name, wire, pad)
		}
	}
}

// TestPaddingAllocations: padding a frame's pieces allocates nothing (the
// forwarding path's budget is 0 per packet; TestForwardAllocations sends
// frames of one piece).
func TestPaddingAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race; make test runs this without it")
	}
	kc := &KeyCapture{}
	dtlsPair(t, dtls.SRTP_AEAD_AES_128_GCM, kc)
	sink := &packetSink{}
	d, err := NewPath(kc, sink, netip.MustParseAddrPort("127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	pieces := [][]byte{make([]byte, 1002), make([]byte, 1001), make([]byte, 1001)}
	var seq uint16
	ts := uint32(0)
	allocs := testing.AllocsPerRun(200, func() {
		ts += 3000
		for _, p := range pieces {
			seq++
			h := rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq, Timestamp: ts, SSRC: 1}
			if err := d.WriteRTP(&h, p); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per padded frame", allocs)
	}
	if len(sink.last) != 12+1002+srtpOverhead {
		t.Fatalf("the last piece left %d bytes long, not padded to the first's", len(sink.last))
	}
}

// playerContext is the SRTP context the DTLS client (the player) opens
// the server's packets with.
func playerContext(t *testing.T, client *dtls.Conn, profile dtls.SRTPProtectionProfile) *srtp.Context {
	t.Helper()
	state, _ := client.ConnectionState()
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		t.Fatal(err)
	}
	ctx, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// packetSink is a media socket that keeps the last packet.
type packetSink struct{ last []byte }

func (s *packetSink) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
func (s *packetSink) WriteToAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	s.last = append(s.last[:0], b...)
	return len(b), nil
}

// dtlsPair connects a DTLS server (capturing into kc) and client over
// loopback UDP.
func dtlsPair(t *testing.T, profile dtls.SRTPProtectionProfile, kc *KeyCapture) (server, client *dtls.Conn) {
	t.Helper()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// As pion/webrtc configures its DTLS: a certificate each, fingerprints
	// checked elsewhere, extended master secret.
	server, err = dtls.ServerWithOptions(a, b.LocalAddr(),
		dtls.WithCertificates(cert), dtls.WithInsecureSkipVerify(true), dtls.WithClientAuth(dtls.RequireAnyClientCert),
		dtls.WithSRTPProtectionProfiles(profile), dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithKeyLogWriter(kc), dtls.WithServerHelloMessageHook(kc.ServerHello))
	if err != nil {
		t.Fatal(err)
	}
	client, err = dtls.ClientWithOptions(b, a.LocalAddr(),
		dtls.WithCertificates(cert), dtls.WithInsecureSkipVerify(true),
		dtls.WithSRTPProtectionProfiles(profile), dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Close()
		_ = server.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return server, client
}

// TestKeyCaptureWithoutHandshake: nothing captured, no keys, and the
// session stays on pion's path.
func TestKeyCaptureWithoutHandshake(t *testing.T) {
	if _, err := NewPath(&KeyCapture{}, &packetSink{}, netip.MustParseAddrPort("127.0.0.1:9")); err == nil {
		t.Fatal("keys derived from nothing")
	}
	kc := &KeyCapture{}
	_, _ = kc.Write([]byte("CLIENT_RANDOM zz 00\n")) // malformed: ignored
	if kc.master != nil {
		t.Fatal("malformed key log line taken")
	}
}
