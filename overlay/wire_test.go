package overlay

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

var (
	goldenProduct   = Overlay{ID: "ov-1", Kind: KindProduct, Drop: "d1", SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", StockLeft: 42, DropState: "open"}
	goldenCountdown = Overlay{ID: "ov-2", Kind: KindCountdown, Label: "Drop opens in", EndsAtMS: 1763780000000}
)

// TestWireGolden pins every message to the wire format the viewer page is
// built against, byte for byte.
func TestWireGolden(t *testing.T) {
	cd := goldenCountdown
	cd.Drop = "d1"
	free := goldenProduct
	free.PriceCents, free.StockLeft, free.DropState = 0, 0, ""
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"state", encodeState(12, []Overlay{goldenProduct, goldenCountdown}),
			`{"v":1,"type":"state","seq":12,"overlays":[{"id":"ov-1","kind":"product","drop":"d1","sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock_left":42,"drop_state":"open"},{"id":"ov-2","kind":"countdown","label":"Drop opens in","ends_at_ms":1763780000000}]}`},
		{"empty state", encodeState(0, nil), `{"v":1,"type":"state","seq":0,"overlays":[]}`},
		{"show", encodeShow(13, 123456789, true, &goldenProduct),
			`{"v":1,"type":"show","seq":13,"media_ts":123456789,"overlay":{"id":"ov-1","kind":"product","drop":"d1","sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock_left":42,"drop_state":"open"}}`},
		{"show without media clock", encodeShow(13, 0, false, &goldenCountdown),
			`{"v":1,"type":"show","seq":13,"overlay":{"id":"ov-2","kind":"countdown","label":"Drop opens in","ends_at_ms":1763780000000}}`},
		{"show countdown of a drop", encodeShow(1, 0, true, &cd),
			`{"v":1,"type":"show","seq":1,"media_ts":0,"overlay":{"id":"ov-2","kind":"countdown","drop":"d1","label":"Drop opens in","ends_at_ms":1763780000000}}`},
		{"free product, zero stock", encodeShow(2, 4294967295, true, &free),
			`{"v":1,"type":"show","seq":2,"media_ts":4294967295,"overlay":{"id":"ov-1","kind":"product","drop":"d1","sku":"tee","name":"Tee","price_cents":0,"currency":"EUR","stock_left":0}}`},
		{"hide", encodeHide(14, 123459000, true, "ov-1"), `{"v":1,"type":"hide","seq":14,"media_ts":123459000,"id":"ov-1"}`},
		{"stock", encodeStock("d1", "tee", 42), `{"v":1,"type":"stock","drop":"d1","sku":"tee","left":42}`},
		{"drop", encodeDrop("d1", "closed"), `{"v":1,"type":"drop","drop":"d1","state":"closed"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Errorf("got  %s\nwant %s", tc.got, tc.want)
			}
			if _, err := DecodeMessage(tc.got); err != nil {
				t.Errorf("own message does not decode: %v", err)
			}
			if !json.Valid(tc.got) {
				t.Error("not valid JSON")
			}
		})
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "Tee", `Cap "<b>" & co`, "tab\there\nnew\rline\x00\x1f\x7f", "héllo ✓ 🎉", "\u2028\u2029", "bad \xff\xfe utf8", `back\slash`} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("Tee")
	f.Add("\u2028<&>\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestDecodeMessage(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"state", `{"v":1,"type":"state","seq":3,"overlays":[]}`, true},
		{"unknown fields ignored", `{"v":1,"type":"drop","drop":"d1","state":"open","extra":true}`, true},
		{"version 2", `{"v":2,"type":"state","seq":3,"overlays":[]}`, false},
		{"unknown type", `{"v":1,"type":"explode"}`, false},
		{"show without overlay", `{"v":1,"type":"show","seq":1}`, false},
		{"show bad kind", `{"v":1,"type":"show","seq":1,"overlay":{"id":"a","kind":"banner"}}`, false},
		{"show product without currency", `{"v":1,"type":"show","seq":1,"overlay":{"id":"a","kind":"product","drop":"d","sku":"s","name":"n"}}`, false},
		{"countdown without label", `{"v":1,"type":"show","seq":1,"overlay":{"id":"a","kind":"countdown","ends_at_ms":5}}`, false},
		{"hide bad id", `{"v":1,"type":"hide","seq":1,"id":"a b"}`, false},
		{"stock negative", `{"v":1,"type":"stock","drop":"d","sku":"s","left":-1}`, false},
		{"stock without left", `{"v":1,"type":"stock","drop":"d","sku":"s"}`, false},
		{"drop created", `{"v":1,"type":"drop","drop":"d","state":"created"}`, false},
		{"trailing data", `{"v":1,"type":"drop","drop":"d","state":"open"}{}`, false},
		{"media_ts out of range", `{"v":1,"type":"hide","seq":1,"media_ts":4294967296,"id":"a"}`, false},
		{"not json", `nope`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v does not wrap ErrInvalid", err)
			}
		})
	}
}

// FuzzDecodeMessage feeds the edge's upstream decoder: it never panics, and
// what it accepts re-encodes to a message it accepts again.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(encodeState(12, []Overlay{goldenProduct, goldenCountdown})))
	f.Add([]byte(encodeShow(13, 1, true, &goldenProduct)))
	f.Add([]byte(encodeHide(14, 1, true, "ov-1")))
	f.Add([]byte(encodeStock("d1", "tee", 1)))
	f.Add([]byte(encodeLot(1, true, &goldenLot)))
	f.Add([]byte(`{"v":1,"type":"lot","lot":{"id":"a","state":"live","currency":"EUR","leader":"\u2028","ends_at_ms":1,"bids":1}}`))
	f.Add([]byte(`{"v":1,"type":"show","seq":1,"overlay":{"id":"a","kind":"countdown","label":"\u0000","ends_at_ms":1}}`))
	f.Add([]byte(encodeGiveaway(1, true, &goldenGiveaway)))
	f.Add([]byte(encodeGiveaway(0, false, &goldenGiveawayOpen)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var again []byte
		switch m.Type {
		case TypeState:
			again = encodeState(m.Seq, m.Overlays)
		case TypeShow:
			again = encodeShow(m.Seq, 0, m.MediaTS != nil, m.Overlay)
		case TypeLot:
			again = encodeLot(0, m.MediaTS != nil, m.Lot)
		case TypeGiveaway:
			again = encodeGiveaway(0, m.MediaTS != nil, m.Giveaway)
		default:
			return
		}
		if _, err := DecodeMessage(again); err != nil {
			t.Fatalf("accepted %s but not its re-encoding %s: %v", data, again, err)
		}
	})
}
