package checkouthttp

import (
	"bytes"
	"testing"

	"github.com/livedrop/livedrop/checkout"
)

func FuzzDecodeOrder(f *testing.F) {
	f.Add([]byte(`{"sku":"tee","qty":1,"buyer":"alice"}`))
	f.Add([]byte(`{"sku":"tee","qty":1,"buyer":"alice"}{}`))
	f.Add([]byte(`{"sku":"tee","qty":-1,"buyer":"alice"}`))
	f.Add([]byte(`{"sku":"","qty":1e400,"buyer":"\u0000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeOrder(bytes.NewReader(data))
		if err != nil {
			if checkout.ClassOf(err) != checkout.ClassInvalid {
				t.Fatalf("error %v has class %v, want invalid", err, checkout.ClassOf(err))
			}
			return
		}
		if len(data) > MaxBodyBytes {
			t.Fatalf("accepted a body of %d bytes", len(data))
		}
		if !checkout.ValidID(b.SKU) || b.Buyer != "" || b.Qty < 1 || b.Qty > checkout.MaxQty {
			t.Fatalf("accepted invalid order %+v", b)
		}
	})
}

func FuzzDecodeDrop(f *testing.F) {
	f.Add([]byte(dropJSON))
	f.Add([]byte(`{"id":"d","stream":"s","skus":[{"sku":"a","currency":"EUR","stock":-1}]}`))
	f.Add([]byte(`{"id":"d","stream":"s","state":"open","skus":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeDrop(bytes.NewReader(data))
		if err != nil {
			if checkout.ClassOf(err) != checkout.ClassInvalid {
				t.Fatalf("error %v has class %v, want invalid", err, checkout.ClassOf(err))
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted invalid drop: %v", err)
		}
	})
}
