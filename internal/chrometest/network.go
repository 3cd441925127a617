package chrometest

import (
	"context"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// SetOffline cuts the tab's network as DevTools' "Offline" does (every
// request fails, navigator.onLine is false and "offline" fires), or gives
// it back.
func (p *Page) SetOffline(ctx context.Context, offline bool) error {
	return runWithin(ctx, p.tabCtx,
		network.Enable(),
		chromedp.ActionFunc(func(ctx context.Context) error {
			return network.EmulateNetworkConditions(offline, 0, -1, -1).Do(ctx)
		}),
	)
}
