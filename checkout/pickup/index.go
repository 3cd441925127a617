package pickup

import "time"

// The index of pickup orders both stores keep: code -> order, day ->
// codes, the open (not collected) codes, and the cursors of the drops'
// orders read so far. Desks.refresh keeps it up to date from the store's
// orders, reading each order once.

// IndexEntry is one pickup order in the index.
type IndexEntry struct {
	Code    string    `json:"code"`
	Order   string    `json:"order"`
	Created time.Time `json:"created"`
}

// IndexTTL is how long a code's entry and a day's codes are kept.
const IndexTTL = 90 * 24 * time.Hour

// dayOf is the UTC day of t, as YYYY-MM-DD.
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }
