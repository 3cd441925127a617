// Package e2e runs giveaways across real edge processes and a real Redis:
// a burst of entries on fresh connections, retried through other edges,
// with ineligible entrants among them, then a draw anyone can check.
package e2e
