// Package pickup owns "buy now, pick up later": the pickup code of an order
// for collection at the stall, the record of which desk handed it over and
// when (once per code, conflicts kept, never a second collection), and the
// day's pickup list a desk caches to keep working offline.
package pickup
