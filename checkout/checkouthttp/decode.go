package checkouthttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/livedrop/livedrop/checkout"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 4 << 10

// MaxDropBodyBytes bounds a drop definition (up to checkout.MaxSKUs SKUs).
const MaxDropBodyBytes = 64 << 10

// OrderBody is the JSON body of POST /v1/drops/{drop}/orders.
type OrderBody struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Buyer string `json:"buyer"`
}

var errTooLarge = errors.New("body too large")

// decodeStrict decodes exactly one JSON object of at most limit bytes with no
// unknown fields into v.
func decodeStrict(r io.Reader, limit int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty body: expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON: data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the object")
	}
	return nil
}

// DecodeOrder reads an order body and checks its fields; errors wrap
// checkout.ErrInvalid.
func DecodeOrder(r io.Reader) (OrderBody, error) {
	var b OrderBody
	if err := decodeStrict(r, MaxBodyBytes, &b); err != nil {
		return OrderBody{}, fmt.Errorf("%w: %w", checkout.ErrInvalid, err)
	}
	switch {
	case !checkout.ValidID(b.SKU):
		return OrderBody{}, fmt.Errorf("%w: sku must be 1-%d of [A-Za-z0-9_-]", checkout.ErrInvalid, checkout.MaxIDLen)
	case b.Qty < 1 || b.Qty > checkout.MaxQty:
		return OrderBody{}, fmt.Errorf("%w: qty must be 1-%d", checkout.ErrInvalid, checkout.MaxQty)
	case !checkout.ValidBuyer(b.Buyer):
		return OrderBody{}, fmt.Errorf("%w: buyer must be 1-%d of [A-Za-z0-9_.:@-]", checkout.ErrInvalid, checkout.MaxIDLen)
	}
	return b, nil
}

// DecodeDrop reads a drop definition and validates it; errors wrap
// checkout.ErrInvalid.
func DecodeDrop(r io.Reader) (checkout.Drop, error) {
	var d checkout.Drop
	if err := decodeStrict(r, MaxDropBodyBytes, &d); err != nil {
		return checkout.Drop{}, fmt.Errorf("%w: %w", checkout.ErrInvalid, err)
	}
	if d.State != "" {
		return checkout.Drop{}, fmt.Errorf("%w: state is set by open and close, not on create", checkout.ErrInvalid)
	}
	if err := d.Validate(); err != nil {
		return checkout.Drop{}, err
	}
	return d, nil
}
