// Package checkout owns the rules of a drop: drops and their SKUs, the stock
// leases an edge holds (escrow), the edge's write-ahead journal with group
// commit, orders and their idempotency, shipping orders to the store, and
// payment with its hold time. It knows no HTTP: checkouthttp adapts it.
//
// The truth lives in a Store: Redis (keys of one drop share the hash tag
// {drop:ID}) or an embedded store (memory plus a journal on disk) for demo.
// An Edge sells from leased units in memory, journals each accepted order
// (fsync, group commit) before it answers, and ships journaled orders to the
// store idempotently. A Control creates, opens and closes drops, and reaps
// expired holds and leases.
package checkout
