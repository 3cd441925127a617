package auction

import "strings"

// Mask is the name a viewer sees for a buyer: the first and last
// character of the name (an email's local part) with the rest hidden.
func Mask(buyer string) string {
	name, _, _ := strings.Cut(buyer, "@")
	r := []rune(name)
	switch {
	case len(r) == 0:
		return "***"
	case len(r) <= 3:
		return string(r[:1]) + "***"
	}
	return string(r[:1]) + "***" + string(r[len(r)-1:])
}
