// Package auctionhttp adapts live auctions to HTTP: the seller's lot
// control at the origin and buyers' bids and live lot updates at an edge.
package auctionhttp
