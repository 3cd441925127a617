package pickup

import "time"

// The index of pickup orders both stores keep: code -> order, day ->
// codes, the open (not collected) codes, and the cursors of the drops'
// orders read so far. A collected code is listed on every day from its
// order's creation to its collection (openDays), so a past day's list
// finds the orders that were open that day; an open code is found through
// the open codes, whatever the day. Desks.refresh keeps it up to date from the store's
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

// openDays lists the UTC days from created's to collected's, both in: an
// order collected at collected was on each of those days' lists. The span
// is bounded: days older than IndexTTL before the collection have expired
// (at most IndexTTL/24h+1 days); a collection dated before its order (a
// desk's clock behind) lists its own day only.
func openDays(created, collected time.Time) []string {
	end := collected.UTC().Truncate(24 * time.Hour)
	start := created.UTC().Truncate(24 * time.Hour)
	if oldest := end.Add(-IndexTTL); start.Before(oldest) {
		start = oldest
	}
	if start.After(end) {
		start = end
	}
	var out []string
	for d := start; !d.After(end); d = d.Add(24 * time.Hour) {
		out = append(out, dayOf(d))
	}
	return out
}
