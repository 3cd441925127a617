package kpi

// Direct is the channel of a viewer or buyer who came with no valid one.
const Direct = "direct"

// MaxChannelLen bounds a channel token.
const MaxChannelLen = 32

// Channel returns s when it is a valid channel token (1-32 of [a-z0-9_-]),
// else Direct: a channel is a metric label, so it is never free-form.
func Channel(s string) string {
	if len(s) == 0 || len(s) > MaxChannelLen {
		return Direct
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Direct
		}
	}
	return s
}
