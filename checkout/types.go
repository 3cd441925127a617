package checkout

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"
)

// Drop states.
const (
	StateCreated = "created"
	StateOpen    = "open"
	StateClosed  = "closed"
)

// Order statuses.
const (
	StatusPending   = "pending"
	StatusPaid      = "paid"
	StatusCancelled = "cancelled"
	// StatusRefunded: the seller refunded a paid order (RefundOp).
	StatusRefunded = "refunded"
)

// Reasons a seller's refund gives the orders it changes.
const (
	ReasonSellerCancelled = "seller_cancelled" // a pending order cancelled
	ReasonSellerRefunded  = "seller_refunded"  // a paid order refunded
)

// Limits on identifiers and quantities.
const (
	MaxIDLen     = 64
	MaxKeyLen    = 128
	MaxQty       = 1000
	MaxSKUs      = 100
	MaxStock     = 10_000_000
	MaxNameLen   = 200
	MaxPriceCent = 100_000_000_00
)

// SKU is one product of a drop.
type SKU struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Stock       int    `json:"stock"`
	MaxPerBuyer int    `json:"max_per_buyer"`
	// MaxPerDevice and MaxPerIP cap the units one device (the buyer
	// session's device id) and one client address may buy; 0 = none. A
	// venue's Wi-Fi is one address: per-IP caps may be large.
	MaxPerDevice int `json:"max_per_device,omitempty"`
	MaxPerIP     int `json:"max_per_ip,omitempty"`
	// MemberPriceCents, when set, is what a member pays per unit
	// (members.go); more than 0 and less than PriceCents.
	MemberPriceCents int64 `json:"member_price_cents,omitempty"`
	// Prices are the SKU's prices per edge region (prices.go); an edge of
	// another region sells at PriceCents in Currency.
	Prices map[string]RegionalPrice `json:"prices,omitempty"`
}

// Drop is a sale of a fixed stock of SKUs bound to a stream.
type Drop struct {
	ID     string `json:"id"`
	Stream string `json:"stream"`
	State  string `json:"state,omitempty"`
	SKUs   []SKU  `json:"skus"`
	Gate   Gate   `json:"gate,omitzero"`
	// OpensAt, when set, is when the control side opens the drop by itself
	// (RFC 3339); with Lottery the opening is a draw (lottery.go).
	OpensAt time.Time `json:"opens_at,omitzero"`
	Lottery *Lottery  `json:"lottery,omitempty"`
	// Members, when set, opens the drop to members early (members.go).
	Members *Members `json:"members,omitempty"`
	// OpenedAt is when the drop first became open, in the store's clock
	// (the store sets it; what a request says is ignored).
	OpenedAt time.Time `json:"opened_at,omitzero"`
}

// Gate is what a drop asks of a buyer before an order, to keep scripts out
// (internal/proof checks it at the edge); zero asks nothing.
type Gate struct {
	// WatchSeconds: the buyer's media session must have been receiving the
	// drop's stream for this long (0: no watch time).
	WatchSeconds int `json:"watch_seconds,omitempty"`
	// ProofOfWork: each order carries a solved proof-of-work challenge.
	ProofOfWork bool `json:"proof_of_work,omitempty"`
}

// MaxWatchSeconds bounds a drop's watch-time gate.
const MaxWatchSeconds = 3600

// SKU returns the SKU named s.
func (d *Drop) SKU(s string) (SKU, bool) {
	for _, k := range d.SKUs {
		if k.SKU == s {
			return k, true
		}
	}
	return SKU{}, false
}

// Validate checks a drop definition.
func (d *Drop) Validate() error {
	if !ValidID(d.ID) {
		return fmt.Errorf("%w: id must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	}
	if !ValidID(d.Stream) {
		return fmt.Errorf("%w: stream must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	}
	if len(d.SKUs) == 0 || len(d.SKUs) > MaxSKUs {
		return fmt.Errorf("%w: skus must hold 1-%d entries", ErrInvalid, MaxSKUs)
	}
	if d.Gate.WatchSeconds < 0 || d.Gate.WatchSeconds > MaxWatchSeconds {
		return fmt.Errorf("%w: gate.watch_seconds must be 0-%d (0 = off)", ErrInvalid, MaxWatchSeconds)
	}
	if err := d.validateOpening(); err != nil {
		return err
	}
	if err := d.validateMembers(); err != nil {
		return err
	}
	if err := d.validatePrices(); err != nil { // prices.go
		return err
	}
	seen := map[string]bool{}
	for i, k := range d.SKUs {
		switch {
		case !ValidID(k.SKU):
			return fmt.Errorf("%w: skus[%d].sku must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, i, MaxIDLen)
		case seen[k.SKU]:
			return fmt.Errorf("%w: skus[%d].sku %q repeated", ErrInvalid, i, k.SKU)
		case len(k.Name) > MaxNameLen:
			return fmt.Errorf("%w: skus[%d].name longer than %d", ErrInvalid, i, MaxNameLen)
		case k.PriceCents < 0 || k.PriceCents > MaxPriceCent:
			return fmt.Errorf("%w: skus[%d].price_cents out of range", ErrInvalid, i)
		case !validCurrency(k.Currency):
			return fmt.Errorf("%w: skus[%d].currency must be 3 upper-case letters", ErrInvalid, i)
		case k.Stock < 0 || k.Stock > MaxStock:
			return fmt.Errorf("%w: skus[%d].stock must be 0-%d", ErrInvalid, i, MaxStock)
		case k.MaxPerBuyer < 0 || k.MaxPerBuyer > MaxQty:
			return fmt.Errorf("%w: skus[%d].max_per_buyer must be 0-%d (0 = no limit)", ErrInvalid, i, MaxQty)
		case k.MaxPerDevice < 0 || k.MaxPerDevice > MaxStock:
			return fmt.Errorf("%w: skus[%d].max_per_device must be 0-%d (0 = no limit)", ErrInvalid, i, MaxStock)
		case k.MaxPerIP < 0 || k.MaxPerIP > MaxStock:
			return fmt.Errorf("%w: skus[%d].max_per_ip must be 0-%d (0 = no limit)", ErrInvalid, i, MaxStock)
		}
		seen[k.SKU] = true
	}
	return nil
}

// Order is one accepted order.
type Order struct {
	ID         string    `json:"id"`
	Drop       string    `json:"drop"`
	SKU        string    `json:"sku"`
	Qty        int       `json:"qty"`
	Buyer      string    `json:"buyer"`
	PriceCents int64     `json:"price_cents"`
	Currency   string    `json:"currency"`
	TotalCents int64     `json:"total_cents"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	Edge       string    `json:"edge"`
	CreatedAt  time.Time `json:"created_at"`
	// Limits are the limit keys (LimitKey) the order counts against: the
	// store adds its units to each, and takes them back if it is cancelled.
	Limits []string `json:"limits,omitempty"`
	// RSVP is the id of the RSVP token the order was sold against (from
	// the drop's reserved units), if any.
	RSVP string `json:"rsvp,omitempty"`
	// Channel is where the buyer came from (kpi.Channel: a short token,
	// "direct" when none) and Region the region of the edge that took the
	// order: the event report splits its figures by them.
	Channel string `json:"channel,omitempty"`
	Region  string `json:"region,omitempty"`
	// Fulfilment is how the buyer gets the goods: "" (the seller's
	// default) or FulfilmentPickup (at the stall, with a pickup code).
	Fulfilment string `json:"fulfilment,omitempty"`
	// Pay is how the order is paid: "" by card, PayWallet from the
	// buyer's wallet (checkout/wallet).
	Pay string `json:"pay,omitempty"`
}

// OrderRequest is what a viewer asks for.
type OrderRequest struct {
	Drop string
	SKU  string
	Qty  int
	// Buyer is who buys: taken from the buyer's verified session, never
	// from a request body.
	Buyer string
	// Device is the buyer session's device id and IP the client's address
	// (guard.HostKey form); both are optional and feed the per-device and
	// per-IP limits.
	Device         string
	IP             string
	IdempotencyKey string
	// RSVP is an RSVP token (rsvp_token.go): the order is sold from the
	// units reserved for it, once.
	RSVP string
	// Member is the buyer's member flag, from the verified session, never
	// from a request body (members.go).
	Member bool
	// Channel is where the buyer came from (the watch page's ?ch=), any
	// string: the order keeps kpi.Channel of it.
	Channel string
	// Retry is the client saying an earlier attempt with this key may have
	// been accepted (its answer was lost): the edge reads the store first.
	Retry bool
	// Fulfilment is "" or FulfilmentPickup (fulfilment.go).
	Fulfilment string
	// Pay is the payment method: "" card, PayWallet the buyer's wallet.
	Pay string
}

// Validate checks the request's fields.
func (r *OrderRequest) Validate() error {
	switch {
	case !ValidID(r.Drop):
		return fmt.Errorf("%w: drop must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	case !ValidID(r.SKU):
		return fmt.Errorf("%w: sku must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	case r.Qty < 1 || r.Qty > MaxQty:
		return fmt.Errorf("%w: qty must be 1-%d", ErrInvalid, MaxQty)
	case !ValidBuyer(r.Buyer):
		return fmt.Errorf("%w: buyer must be 1-%d of [A-Za-z0-9_.:@-]", ErrInvalid, MaxIDLen)
	case !ValidIdempotencyKey(r.IdempotencyKey):
		return fmt.Errorf("%w: Idempotency-Key must be 1-%d printable ASCII characters", ErrInvalid, MaxKeyLen)
	case r.Device != "" && !validSubject(r.Device):
		return fmt.Errorf("%w: device must be at most %d printable ASCII characters", ErrInvalid, MaxSubjectLen)
	case r.IP != "" && !validSubject(r.IP):
		return fmt.Errorf("%w: ip must be at most %d printable ASCII characters", ErrInvalid, MaxSubjectLen)
	case r.RSVP != "" && r.Qty != 1:
		return fmt.Errorf("%w: an RSVP holds one unit: qty must be 1", ErrInvalid)
	case len(r.RSVP) > MaxRSVPTokenLen:
		return fmt.Errorf("%w: malformed token", ErrRSVPInvalid)
	case !ValidFulfilment(r.Fulfilment):
		return fmt.Errorf("%w: fulfilment must be empty or %q", ErrInvalid, FulfilmentPickup)
	case r.Pay != "" && r.Pay != PayWallet:
		return fmt.Errorf("%w: pay must be empty (card) or %q", ErrInvalid, PayWallet)
	}
	return nil
}

// PayWallet is the payment method of an order paid from the buyer's
// wallet (checkout/wallet).
const PayWallet = "wallet"

// MaxSubjectLen bounds a device id or an address in an OrderRequest.
const MaxSubjectLen = 256

func validSubject(s string) bool { return len(s) <= MaxSubjectLen && printable(s) }

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// LimitKey names whom a limit counts, as the store keeps it: "b:" and the
// buyer id, or "d:" / "i:" and a hash of the device id or address (the
// store never holds a client's address or device id in the clear).
func LimitKey(kind, subject string) string {
	switch kind {
	case KindBuyer:
		return "b:" + subject
	case KindDevice, KindIP:
		var in [len(KindDevice) + 1 + MaxSubjectLen]byte
		n := copy(in[:], kind)
		in[n] = 0
		n += 1 + copy(in[n+1:], subject)
		h := sha256.Sum256(in[:n])
		var out [2 + 24]byte
		out[0], out[1] = kind[0], ':'
		b32lower.Encode(out[2:], h[:15])
		return string(out[:])
	}
	return ""
}

// b32lower is base32 in lower case, without padding (limit keys).
var b32lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// kindOfKey returns the kind a limit key counts.
func kindOfKey(key string) string {
	switch {
	case strings.HasPrefix(key, "b:"):
		return KindBuyer
	case strings.HasPrefix(key, "d:"):
		return KindDevice
	case strings.HasPrefix(key, "i:"):
		return KindIP
	}
	return ""
}

// Limit is one purchase limit an order is checked against: the limit key
// (LimitKey) and the most units it may have bought of the SKU.
type Limit struct {
	Key string
	Max int
}

// limitsOf lists the limits of def that a request's buyer, device and
// address fall under; an empty subject is not limited.
func limitsOf(def SKU, buyer, device, ip string) []Limit {
	if def.MaxPerBuyer == 0 && def.MaxPerDevice == 0 && def.MaxPerIP == 0 {
		return nil
	}
	l := make([]Limit, 0, 3)
	if def.MaxPerBuyer > 0 {
		l = append(l, Limit{LimitKey(KindBuyer, buyer), def.MaxPerBuyer})
	}
	if def.MaxPerDevice > 0 && device != "" {
		l = append(l, Limit{LimitKey(KindDevice, device), def.MaxPerDevice})
	}
	if def.MaxPerIP > 0 && ip != "" {
		l = append(l, Limit{LimitKey(KindIP, ip), def.MaxPerIP})
	}
	return l
}

// limitsOfKeys gives the keys an order counts against their maxima in def.
func limitsOfKeys(def SKU, keys []string) []Limit {
	l := make([]Limit, 0, len(keys))
	for _, k := range keys {
		m := 0
		switch kindOfKey(k) {
		case KindBuyer:
			m = def.MaxPerBuyer
		case KindDevice:
			m = def.MaxPerDevice
		case KindIP:
			m = def.MaxPerIP
		}
		l = append(l, Limit{k, m})
	}
	return l
}

// OrderID derives the order id from the drop, buyer and idempotency key, so
// that a retry through any edge names the same order. The drop id is its
// prefix, so the order can be found in the drop's keys.
func OrderID(drop, buyer, key string) string {
	h := sha256.New()
	h.Write([]byte(drop))
	h.Write([]byte{0})
	h.Write([]byte(buyer))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [32]byte
	return drop + "." + strings.ToLower(b32.EncodeToString(h.Sum(sum[:0])[:15]))
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// DropOfOrder returns the drop id an order id belongs to.
func DropOfOrder(id string) (string, bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || len(id)-i-1 != 24 || len(id) > MaxIDLen+25 {
		return "", false
	}
	for _, c := range []byte(id[i+1:]) {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return "", false
		}
	}
	d := id[:i]
	return d, ValidID(d)
}

// ValidID reports whether s is 1-64 characters of [A-Za-z0-9_-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidBuyer reports whether s is 1-64 characters of [A-Za-z0-9_.:@-].
func ValidBuyer(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':' || c == '@') {
			return false
		}
	}
	return true
}

// ValidIdempotencyKey reports whether s is 1-128 printable ASCII characters.
func ValidIdempotencyKey(s string) bool {
	if len(s) == 0 || len(s) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func validCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

// SKUTotals are the live totals of one SKU.
type SKUTotals struct {
	SKU         string `json:"sku"`
	Stock       int    `json:"stock"`
	Free        int    `json:"free"`
	HeldAtEdges int    `json:"held_at_edges"`
	Sold        int    `json:"sold"`
	Orders      int    `json:"orders"`
	Paid        int    `json:"paid"`
	Cancelled   int    `json:"cancelled"`
	// Refunded counts paid orders the seller refunded (no longer in Sold,
	// Orders, Paid or RevenueCents).
	Refunded     int    `json:"refunded"`
	RevenueCents int64  `json:"revenue_cents"`
	Currency     string `json:"currency"`

	// Reserved are units held for RSVP tokens not yet redeemed; they are
	// not free, and go back to free at their batch's deadline.
	Reserved int `json:"reserved"`
	// Waitlist are units an opening lottery's waitlist still waits for:
	// free units up to it go to the waitlist, not on sale (waitlist.go).
	Waitlist int `json:"waitlist,omitempty"`
}

// Totals are the live totals of a drop.
type Totals struct {
	Drop   string      `json:"drop"`
	Stream string      `json:"stream"`
	State  string      `json:"state"`
	SKUs   []SKUTotals `json:"skus"`
	// Lottery is the drop's opening lottery once it started (the seed only
	// after the draw).
	Lottery *LotteryInfo `json:"lottery,omitempty"`
	// MembersUntil is when a drop with member early access opens for
	// everyone (members.go).
	MembersUntil time.Time `json:"members_until,omitzero"`
	// RevenueByCurrency is the drop's revenue per currency and
	// SKURevenueByCurrency each SKU's, never summed across currencies
	// (control_totals.go; a SKU's RevenueCents is then its Currency's only).
	RevenueByCurrency    map[string]int64            `json:"revenue_by_currency,omitempty"`
	SKURevenueByCurrency map[string]map[string]int64 `json:"sku_revenue_by_currency,omitempty"`
}
