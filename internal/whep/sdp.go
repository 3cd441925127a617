package whep

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/stream"
)

// MaxSDPSize bounds an offer or answer body.
const MaxSDPSize = 64 << 10

// ErrBadSDP classifies a malformed or unusable session description.
var ErrBadSDP = errors.New("bad sdp")

// mediaCodec is one codec an m-line lists.
type mediaCodec struct {
	pt        uint8
	name      string // as in rtpmap, e.g. "H264", "opus"
	clockRate uint32
	channels  uint16
	fmtp      string
}

type mediaDesc struct {
	kind      string // "video", "audio", "application"
	direction string // sendrecv, sendonly, recvonly, inactive
	port      int
	codecs    []mediaCodec
}

// parseSDP checks an SDP body and lists its media sections.
func parseSDP(body []byte) ([]mediaDesc, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrBadSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: no media sections", ErrBadSDP)
	}
	var out []mediaDesc
	for _, md := range sd.MediaDescriptions {
		d := mediaDesc{kind: md.MediaName.Media, direction: "sendrecv", port: md.MediaName.Port.Value}
		byPT := map[uint8]*mediaCodec{}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 8)
			if err != nil {
				continue // "webrtc-datachannel" and the like
			}
			d.codecs = append(d.codecs, mediaCodec{pt: uint8(pt)})
		}
		for i := range d.codecs {
			byPT[d.codecs[i].pt] = &d.codecs[i]
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				d.direction = a.Key
			case "rtpmap":
				pt, rest, ok := cutPT(a.Value)
				if c := byPT[pt]; ok && c != nil {
					parts := strings.Split(rest, "/")
					c.name = parts[0]
					if len(parts) > 1 {
						n, _ := strconv.ParseUint(parts[1], 10, 32)
						c.clockRate = uint32(n)
					}
					if len(parts) > 2 {
						n, _ := strconv.ParseUint(parts[2], 10, 16)
						c.channels = uint16(n)
					}
				}
			case "fmtp":
				pt, rest, ok := cutPT(a.Value)
				if c := byPT[pt]; ok && c != nil {
					c.fmtp = rest
				}
			}
		}
		for i := range d.codecs {
			c := &d.codecs[i]
			if c.name == "" { // static payload types
				switch c.pt {
				case 0:
					c.name, c.clockRate = "PCMU", 8000
				case 8:
					c.name, c.clockRate = "PCMA", 8000
				}
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func cutPT(v string) (uint8, string, bool) {
	f, rest, ok := strings.Cut(v, " ")
	if !ok {
		return 0, "", false
	}
	pt, err := strconv.ParseUint(f, 10, 8)
	if err != nil {
		return 0, "", false
	}
	return uint8(pt), strings.TrimSpace(rest), true
}

// fmtpParam returns the value of key in an fmtp line.
func fmtpParam(fmtp, key string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// offersH264 reports whether a video section accepts our H.264 format.
func offersH264(d mediaDesc) bool {
	for _, c := range d.codecs {
		if strings.EqualFold(c.name, "H264") && fmtpParam(c.fmtp, "packetization-mode") == "1" {
			pl := strings.ToLower(fmtpParam(c.fmtp, "profile-level-id"))
			if len(pl) == 6 && pl[:4] == "42e0" {
				return true
			}
		}
	}
	return false
}

// offersCodec reports whether a section lists codec (by MIME subtype and clock rate).
func offersCodec(d mediaDesc, codec *stream.Codec) bool {
	want := strings.TrimPrefix(strings.TrimPrefix(codec.MimeType, "audio/"), "video/")
	for _, c := range d.codecs {
		if strings.EqualFold(c.name, want) && c.clockRate == codec.ClockRate {
			return true
		}
	}
	return false
}

// answerTracks reads which tracks an answer from a WHEP server sends.
func answerTracks(descs []mediaDesc) (stream.Tracks, error) {
	var t stream.Tracks
	for _, d := range descs {
		if d.port == 0 || (d.direction != "sendonly" && d.direction != "sendrecv") || len(d.codecs) == 0 {
			continue
		}
		c := d.codecs[0]
		switch d.kind {
		case "video":
			if !strings.EqualFold(c.name, "H264") {
				return t, fmt.Errorf("%w: upstream video codec %q is not H264", ErrBadSDP, c.name)
			}
			t.Video = &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}
		case "audio":
			var mime string
			switch strings.ToLower(c.name) {
			case "opus":
				mime = media.MimeOpus
			case "pcmu":
				mime = media.MimePCMU
			case "pcma":
				mime = media.MimePCMA
			default:
				continue
			}
			ch := c.channels
			if ch == 0 {
				ch = 1
			}
			t.Audio = &stream.Codec{MimeType: mime, ClockRate: c.clockRate, Channels: ch}
		}
	}
	if t.Video == nil {
		return t, fmt.Errorf("%w: answer sends no video", ErrBadSDP)
	}
	return t, nil
}
