// Package auction owns live auctions of single lots: the lot's rules
// (start, reserve, increments, timer), the resolution of one bid against
// the lot's state (proxy bids included), and the stores that decide bids
// in one place per lot.
package auction
