package chrometest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// mouse.go taps the page where a user would: at a point of the viewport,
// with the mouse events Chromium hit-tests like a finger's.

// Center returns the viewport coordinates of the centre of the first
// element matching the CSS selector, scrolled into view first.
func (p *Page) Center(ctx context.Context, selector string) (x, y float64, err error) {
	sel, err := json.Marshal(selector)
	if err != nil {
		return 0, 0, err
	}
	var c struct {
		Found bool
		X, Y  float64
	}
	err = p.Eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return { found: false };
	  e.scrollIntoView({ block: 'nearest', inline: 'nearest' });
	  const r = e.getBoundingClientRect(); return { found: true, x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`, sel), &c)
	if err != nil {
		return 0, 0, err
	}
	if !c.Found {
		return 0, 0, fmt.Errorf("chrometest: no element matches %s", selector)
	}
	return c.X, c.Y, nil
}

// ClickAt presses and releases the left mouse button at viewport point
// (x, y) (Input.dispatchMouseEvent): whatever element is on top there
// gets the click, as a user's tap would.
func (p *Page) ClickAt(ctx context.Context, x, y float64) error {
	err := runWithin(ctx, p.tabCtx, chromedp.ActionFunc(func(ctx context.Context) error {
		if err := input.DispatchMouseEvent(input.MouseMoved, x, y).Do(ctx); err != nil {
			return err
		}
		if err := input.DispatchMouseEvent(input.MousePressed, x, y).WithButton(input.Left).WithClickCount(1).Do(ctx); err != nil {
			return err
		}
		return input.DispatchMouseEvent(input.MouseReleased, x, y).WithButton(input.Left).WithClickCount(1).Do(ctx)
	}))
	if err != nil {
		return fmt.Errorf("chrometest: click at (%.0f, %.0f): %w", x, y, err)
	}
	return nil
}
