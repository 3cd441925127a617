package overlay

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/livedrop/livedrop/checkout"
)

// Overlay kinds.
const (
	KindProduct   = "product"
	KindCountdown = "countdown"
)

// Message types of the wire format (version WireVersion).
const (
	TypeState = "state"
	TypeShow  = "show"
	TypeHide  = "hide"
	TypeStock = "stock"
	TypeDrop  = "drop"
)

// WireVersion is the "v" of every message.
const WireVersion = 1

// Transports a subscriber receives messages through (the label of
// livedrop_overlay_subscribers).
const (
	TransportDataChannel = "datachannel"
	TransportWebSocket   = "websocket"
)

// Limits.
const (
	// MaxLabelLen bounds a countdown's label, in bytes.
	MaxLabelLen = 120
	// MaxCountdownSeconds bounds a countdown's duration.
	MaxCountdownSeconds = 24 * 60 * 60
	// MaxMessageBytes bounds one upstream message an edge ingests.
	MaxMessageBytes = 256 << 10
	// MaxStateOverlays bounds the overlays an edge keeps per stream,
	// whatever its upstream sends.
	MaxStateOverlays = 256
)

// Overlay is one active overlay of a stream: a product card or a countdown.
// Its JSON form is the <Overlay> of the wire format; product fields are
// empty on a countdown and the other way round.
type Overlay struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Drop string `json:"drop,omitempty"`
	// Product.
	SKU        string `json:"sku,omitempty"`
	Name       string `json:"name,omitempty"`
	PriceCents int64  `json:"price_cents,omitempty"`
	Currency   string `json:"currency,omitempty"`
	StockLeft  int    `json:"stock_left,omitempty"`
	DropState  string `json:"drop_state,omitempty"`
	// MemberPriceCents is what a member pays (0: no member price), and
	// MembersUntilMS when a drop open to members early opens for everyone
	// (Unix ms; 0: no early access): checkout/members.go.
	MemberPriceCents int64 `json:"member_price_cents,omitempty"`
	MembersUntilMS   int64 `json:"members_until_ms,omitempty"`
	// Countdown.
	Label    string `json:"label,omitempty"`
	EndsAtMS int64  `json:"ends_at_ms,omitempty"`
}

// MarshalJSON encodes o exactly as the wire format does.
func (o Overlay) MarshalJSON() ([]byte, error) { return appendOverlay(nil, &o), nil }

// Validate checks an overlay received from an upstream node.
func (o *Overlay) Validate() error {
	if !checkout.ValidID(o.ID) {
		return fmt.Errorf("%w: overlay id must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
	}
	if o.Drop != "" && !checkout.ValidID(o.Drop) {
		return fmt.Errorf("%w: overlay %s: bad drop id", ErrInvalid, o.ID)
	}
	switch o.Kind {
	case KindProduct:
		switch {
		case !checkout.ValidID(o.Drop) || !checkout.ValidID(o.SKU):
			return fmt.Errorf("%w: overlay %s: product needs a drop and a sku", ErrInvalid, o.ID)
		case len(o.Name) > checkout.MaxNameLen || !utf8.ValidString(o.Name):
			return fmt.Errorf("%w: overlay %s: bad name", ErrInvalid, o.ID)
		case o.PriceCents < 0 || o.PriceCents > checkout.MaxPriceCent:
			return fmt.Errorf("%w: overlay %s: price_cents out of range", ErrInvalid, o.ID)
		case o.MemberPriceCents < 0 || o.MemberPriceCents > checkout.MaxPriceCent:
			return fmt.Errorf("%w: overlay %s: member_price_cents out of range", ErrInvalid, o.ID)
		case o.MembersUntilMS < 0:
			return fmt.Errorf("%w: overlay %s: members_until_ms must be >= 0", ErrInvalid, o.ID)
		case !validCurrency(o.Currency):
			return fmt.Errorf("%w: overlay %s: currency must be 3 upper-case letters", ErrInvalid, o.ID)
		case o.StockLeft < 0 || o.StockLeft > checkout.MaxStock:
			return fmt.Errorf("%w: overlay %s: stock_left out of range", ErrInvalid, o.ID)
		case !validDropState(o.DropState):
			return fmt.Errorf("%w: overlay %s: bad drop_state", ErrInvalid, o.ID)
		case o.Label != "" || o.EndsAtMS != 0:
			return fmt.Errorf("%w: overlay %s: countdown fields on a product", ErrInvalid, o.ID)
		}
	case KindCountdown:
		switch {
		case !validLabel(o.Label):
			return fmt.Errorf("%w: overlay %s: bad label", ErrInvalid, o.ID)
		case o.EndsAtMS <= 0:
			return fmt.Errorf("%w: overlay %s: ends_at_ms must be > 0", ErrInvalid, o.ID)
		case o.SKU != "" || o.Name != "" || o.PriceCents != 0 || o.Currency != "" || o.StockLeft != 0 || o.DropState != "" || o.MemberPriceCents != 0 || o.MembersUntilMS != 0:
			return fmt.Errorf("%w: overlay %s: product fields on a countdown", ErrInvalid, o.ID)
		}
	default:
		return fmt.Errorf("%w: overlay %s: kind must be %q or %q", ErrInvalid, o.ID, KindProduct, KindCountdown)
	}
	return nil
}

// Request asks the origin to show an overlay: the JSON body of
// POST /v1/streams/{stream}/overlays.
//
//	{"type":"product","drop":"d1","sku":"tee"}
//	{"type":"countdown","label":"Drop opens in","seconds":30,"drop":"d1"}
type Request struct {
	Type    string `json:"type"`
	Drop    string `json:"drop,omitempty"`
	SKU     string `json:"sku,omitempty"`
	Label   string `json:"label,omitempty"`
	Seconds int    `json:"seconds,omitempty"`
}

// Validate checks the request's fields; errors wrap ErrInvalid and name the
// field.
func (r *Request) Validate() error {
	switch r.Type {
	case KindProduct:
		switch {
		case !checkout.ValidID(r.Drop):
			return fmt.Errorf("%w: drop must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
		case !checkout.ValidID(r.SKU):
			return fmt.Errorf("%w: sku must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
		case r.Label != "" || r.Seconds != 0:
			return fmt.Errorf("%w: label and seconds are for countdowns", ErrInvalid)
		}
	case KindCountdown:
		switch {
		case !validLabel(r.Label):
			return fmt.Errorf("%w: label must be 1-%d bytes of printable UTF-8", ErrInvalid, MaxLabelLen)
		case r.Seconds < 1 || r.Seconds > MaxCountdownSeconds:
			return fmt.Errorf("%w: seconds must be 1-%d", ErrInvalid, MaxCountdownSeconds)
		case r.Drop != "" && !checkout.ValidID(r.Drop):
			return fmt.Errorf("%w: drop must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
		case r.SKU != "":
			return fmt.Errorf("%w: sku is for products", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: type must be %q or %q", ErrInvalid, KindProduct, KindCountdown)
	}
	return nil
}

// ValidOverlayID reports whether s may name an overlay.
func ValidOverlayID(s string) bool { return checkout.ValidID(s) }

func validLabel(s string) bool {
	if len(s) == 0 || len(s) > MaxLabelLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func validCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

func validDropState(s string) bool {
	switch s {
	case "", checkout.StateCreated, checkout.StateOpen, checkout.StateClosed, checkout.StateDrawing:
		return true
	}
	return false
}
