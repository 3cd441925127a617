// Package media holds the facts every room agrees on about a live stream:
// what a stream may be called and which codecs, clocks and formats it carries.
// It imports nothing of the project; origin, edge, overlay, webui and the
// WebRTC rooms import it, never the other way round.
package media

// MaxNameLen is the longest stream name.
const MaxNameLen = 64

// NamePattern is the rule for a stream name as a regular expression, for
// messages and for pages that check a name before they ask.
const NamePattern = `^[A-Za-z0-9_-]{1,64}$`

// ValidName reports whether s may name a stream: 1 to 64 of [A-Za-z0-9_-].
// It is the same rule everywhere a stream name arrives: RTSP paths, WHEP
// URLs, watch pages, overlay and config keys.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Media types of the codecs a stream may carry, as RTP and SDP spell them.
const (
	MimeH264 = "video/H264"
	MimeOpus = "audio/opus"
	MimePCMU = "audio/PCMU"
	MimePCMA = "audio/PCMA"
)

// Clock rates of the RTP timestamps.
const (
	VideoClockRate = 90000 // every video codec on RTP
	OpusClockRate  = 48000
	G711ClockRate  = 8000
)

// OpusChannels is what WebRTC always signals for Opus (opus/48000/2),
// whatever the encoder actually sends.
const OpusChannels = 2

// H264Fmtp is the H.264 format every node advertises: constrained baseline
// level 3.1, packetization mode 1. Chromium decodes
// constrained-baseline-compatible streams signalled this way (FIELD-NOTES),
// and pion matches it exactly.
const H264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
