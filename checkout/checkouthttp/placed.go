package checkouthttp

import "github.com/livedrop/livedrop/checkout"

// OnPlaced calls f with every order the edge answers 201 for (a retry's
// too: f must be idempotent and must not block, e.g. the pickup notice's
// queue). Call it before the API serves.
func (a *EdgeAPI) OnPlaced(f func(checkout.Order)) { a.placed = f }
