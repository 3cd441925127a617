// Package e2e runs live auctions across real edge processes and a real
// Redis: many bidders, proxy bids, snipes, and an edge killed mid-auction.
package e2e
