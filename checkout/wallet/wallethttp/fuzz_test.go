package wallethttp

import (
	"bytes"
	"testing"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/wallet"
)

func FuzzDecodeTopUp(f *testing.F) {
	f.Add([]byte(`{"amount_cents":2500,"currency":"EUR"}`))
	f.Add([]byte(`{"amount_cents":-1,"currency":"EUR"}`))
	f.Add([]byte(`{"amount_cents":1e400,"currency":"eur"}`))
	f.Add([]byte(`{"amount_cents":2500,"currency":"EUR","buyer":"someone-else"}`))
	f.Add([]byte(`{"amount_cents":2500,"currency":"EUR"}{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeTopUp(bytes.NewReader(data))
		if err != nil {
			if checkout.ClassOf(err) != checkout.ClassInvalid {
				t.Fatalf("error %v has class %v, want invalid", err, checkout.ClassOf(err))
			}
			return
		}
		if len(data) > MaxBodyBytes || b.AmountCents < 1 || b.AmountCents > wallet.MaxTopUpCents || !wallet.ValidCurrency(b.Currency) {
			t.Fatalf("accepted invalid top-up %+v from %d bytes", b, len(data))
		}
	})
}

// FuzzDecodeSpend fuzzes the order body a wallet spend comes in: only an
// empty pay or "wallet" is accepted.
func FuzzDecodeSpend(f *testing.F) {
	f.Add([]byte(`{"sku":"tee","qty":1,"pay":"wallet"}`))
	f.Add([]byte(`{"sku":"tee","qty":1,"pay":"WALLET"}`))
	f.Add([]byte(`{"sku":"tee","qty":1,"pay":"wallet","amount_cents":1}`))
	f.Add([]byte(`{"sku":"tee","qty":1,"pay":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := checkouthttp.DecodeOrder(bytes.NewReader(data))
		if err != nil {
			if checkout.ClassOf(err) != checkout.ClassInvalid {
				t.Fatalf("error %v has class %v, want invalid", err, checkout.ClassOf(err))
			}
			return
		}
		if b.Pay != "" && b.Pay != checkout.PayWallet {
			t.Fatalf("accepted pay %q", b.Pay)
		}
	})
}
