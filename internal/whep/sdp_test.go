package whep

import (
	"strings"
	"testing"

	"github.com/livedrop/livedrop/internal/stream"
)

// chromiumOffer is the shape of a recvonly offer from Chromium 156.
const chromiumOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102 103 127\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:Zx1g\r\na=ice-pwd:k8tZ1yCJ1c2bYx0aXq2gE1Zs\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 5E:2B:6C:0A:91:57:3D:4C:8B:7E:11:20:0F:AA:B3:C4:D5:E6:F7:08:19:2A:3B:4C:5D:6E:7F:80:91:A2:B3:C4\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n" +
	"a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n" +
	"a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack pli\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n" +
	"a=rtpmap:103 H264/90000\r\na=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n" +
	"a=rtpmap:127 H264/90000\r\na=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"

func TestParseOffer(t *testing.T) {
	media, err := parseSDP([]byte(chromiumOffer))
	if err != nil {
		t.Fatal(err)
	}
	if len(media) != 2 || media[0].kind != "video" || media[1].kind != "audio" {
		t.Fatalf("%+v", media)
	}
	if !offersH264(media[0]) {
		t.Fatal("42e01f with packetization-mode=1 not found")
	}
	for _, c := range []stream.Codec{{MimeType: "audio/opus", ClockRate: 48000}, {MimeType: "audio/PCMU", ClockRate: 8000}, {MimeType: "audio/PCMA", ClockRate: 8000}} {
		if !offersCodec(media[1], &c) {
			t.Errorf("%s not offered", c.MimeType)
		}
	}
	if offersCodec(media[1], &stream.Codec{MimeType: "audio/MPEG4-GENERIC", ClockRate: 48000}) {
		t.Fatal("AAC reported as offered")
	}
	// Only packetization-mode=0 and 42001f: refused.
	onlyMode0 := strings.ReplaceAll(chromiumOffer, "packetization-mode=1;profile-level-id=42e01f", "packetization-mode=0;profile-level-id=42e01f")
	media, _ = parseSDP([]byte(onlyMode0))
	if offersH264(media[0]) {
		t.Fatal("offer without a usable H.264 accepted")
	}
}

func TestAnswerTracks(t *testing.T) {
	answer := strings.ReplaceAll(strings.ReplaceAll(chromiumOffer, "a=recvonly", "a=sendonly"), "96 102 103 127", "127")
	media, err := parseSDP([]byte(answer))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := answerTracks(media)
	if err != nil || tr.Video == nil || tr.Audio == nil || tr.Audio.MimeType != "audio/opus" || tr.Audio.Channels != 2 {
		t.Fatalf("%+v %v", tr, err)
	}
	if _, err := answerTracks(media[1:]); err == nil {
		t.Fatal("answer without video accepted")
	}
}

func TestParseRejects(t *testing.T) {
	for name, body := range map[string]string{
		"empty":    "",
		"garbage":  "hello",
		"no media": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
	} {
		if _, err := parseSDP([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte(chromiumOffer))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96 H264\r\na=fmtp:96\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		media, err := parseSDP(body)
		if err != nil {
			return
		}
		for _, d := range media {
			offersH264(d)
			offersCodec(d, &stream.Codec{MimeType: "audio/opus", ClockRate: 48000})
		}
		_, _ = answerTracks(media)
	})
}
