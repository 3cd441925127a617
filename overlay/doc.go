// Package overlay owns the rules of shoppable overlays: what a pinned product
// card or a countdown is, how overlay events are sequenced and stamped with
// the media time of the video frame they belong to, and how a stream's
// events fan out to its subscribers (edges at the origin, viewers at an
// edge) without a slow subscriber slowing anyone else.
//
// An OriginHub holds each stream's active overlays, pins and unpins them,
// follows drop state and stock from the checkout store, and is the event
// feed edges pull from. An EdgeHub ingests the upstream's events in order,
// rewrites what belongs to its region (price and currency, stock left as this
// edge sees it, coalesced), and is the event feed of its viewers. Every
// message is encoded once per stream and shared by all subscribers.
//
// The package knows no protocol: overlayhttp adapts it to HTTP and
// WebSocket, and the WHEP data channel reads it through whep.EventFeed.
package overlay
