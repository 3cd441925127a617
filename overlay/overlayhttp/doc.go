// Package overlayhttp is the HTTP adapter of package overlay: the seller's
// overlay routes at the origin (bearer token), the events WebSocket at the
// origin and at every edge (Origin check, read limit, keepalive), and the
// node services that run a hub with its routes. It decodes, bounds and maps
// errors to status codes in one place (statusOf); it holds no rules.
package overlayhttp
