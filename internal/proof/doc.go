// Package proof mints and checks the proofs a gated drop asks of a buyer
// before an order: a signed watch proof (this buyer's media session has been
// receiving the stream for so long) and a proof of work (a small sha256
// puzzle from a signed, stateless, single-use challenge whose difficulty
// rises with the edge's order rate).
//
// It knows no protocol: the edge serves the proofs over HTTP and the order
// handler presents them here. Tokens are HMAC-signed with keys derived from
// the node secrets every edge shares, so any edge verifies any edge's proof
// without a round trip; the first key signs, every key verifies (rotation).
package proof
