package overlay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/livedrop/livedrop/checkout"
)

// The encoders below append the wire format by hand: a fixed field order
// (golden tests pin it), no reflection, and one allocation per message.

func appendHead(b []byte, typ string) []byte {
	b = append(b, `{"v":1,"type":"`...)
	b = append(b, typ...)
	return append(b, '"')
}

func appendSeq(b []byte, seq uint64) []byte {
	b = append(b, `,"seq":`...)
	return strconv.AppendUint(b, seq, 10)
}

func appendMediaTS(b []byte, ts uint32, ok bool) []byte {
	if !ok {
		return b
	}
	b = append(b, `,"media_ts":`...)
	return strconv.AppendUint(b, uint64(ts), 10)
}

func appendOverlay(b []byte, o *Overlay) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, o.ID)
	b = append(b, `,"kind":`...)
	b = appendString(b, o.Kind)
	if o.Kind == KindProduct {
		b = append(b, `,"drop":`...)
		b = appendString(b, o.Drop)
		b = append(b, `,"sku":`...)
		b = appendString(b, o.SKU)
		b = append(b, `,"name":`...)
		b = appendString(b, o.Name)
		b = append(b, `,"price_cents":`...)
		b = strconv.AppendInt(b, o.PriceCents, 10)
		b = append(b, `,"currency":`...)
		b = appendString(b, o.Currency)
		b = append(b, `,"stock_left":`...)
		b = strconv.AppendInt(b, int64(o.StockLeft), 10)
		if o.DropState != "" {
			b = append(b, `,"drop_state":`...)
			b = appendString(b, o.DropState)
		}
		if o.MemberPriceCents != 0 {
			b = append(b, `,"member_price_cents":`...)
			b = strconv.AppendInt(b, o.MemberPriceCents, 10)
		}
		if o.MembersUntilMS != 0 {
			b = append(b, `,"members_until_ms":`...)
			b = strconv.AppendInt(b, o.MembersUntilMS, 10)
		}
		return append(b, '}')
	}
	if o.Drop != "" {
		b = append(b, `,"drop":`...)
		b = appendString(b, o.Drop)
	}
	b = append(b, `,"label":`...)
	b = appendString(b, o.Label)
	b = append(b, `,"ends_at_ms":`...)
	b = strconv.AppendInt(b, o.EndsAtMS, 10)
	return append(b, '}')
}

// encodeState encodes the complete state of a stream.
func encodeState(seq uint64, overlays []Overlay) []byte {
	b := make([]byte, 0, 48+len(overlays)*200)
	b = appendHead(b, TypeState)
	b = appendSeq(b, seq)
	b = append(b, `,"overlays":[`...)
	for i := range overlays {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOverlay(b, &overlays[i])
	}
	return append(b, "]}"...)
}

// encodeShow encodes a show; media_ts is left out when the media clock is
// unknown (no video yet): the client shows it at once.
func encodeShow(seq uint64, ts uint32, tsOK bool, o *Overlay) []byte {
	b := make([]byte, 0, 256)
	b = appendHead(b, TypeShow)
	b = appendSeq(b, seq)
	b = appendMediaTS(b, ts, tsOK)
	b = append(b, `,"overlay":`...)
	b = appendOverlay(b, o)
	return append(b, '}')
}

func encodeHide(seq uint64, ts uint32, tsOK bool, id string) []byte {
	b := make([]byte, 0, 96)
	b = appendHead(b, TypeHide)
	b = appendSeq(b, seq)
	b = appendMediaTS(b, ts, tsOK)
	b = append(b, `,"id":`...)
	b = appendString(b, id)
	return append(b, '}')
}

func encodeStock(drop, sku string, left int) []byte {
	b := make([]byte, 0, 64+len(drop)+len(sku))
	b = appendHead(b, TypeStock)
	b = append(b, `,"drop":`...)
	b = appendString(b, drop)
	b = append(b, `,"sku":`...)
	b = appendString(b, sku)
	b = append(b, `,"left":`...)
	b = strconv.AppendInt(b, int64(left), 10)
	return append(b, '}')
}

func encodeDrop(drop, state string) []byte {
	b := make([]byte, 0, 64+len(drop))
	b = appendHead(b, TypeDrop)
	b = append(b, `,"drop":`...)
	b = appendString(b, drop)
	b = append(b, `,"state":`...)
	b = appendString(b, state)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// (HTML-safe, invalid UTF-8 replaced, U+2028/U+2029 escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Message is one decoded wire message (any type; fields not of its type are
// empty). DecodeMessage fills it from an upstream node's data channel.
type Message struct {
	V        int       `json:"v"`
	Type     string    `json:"type"`
	Seq      uint64    `json:"seq"`
	MediaTS  *uint32   `json:"media_ts"`
	Overlays []Overlay `json:"overlays"`
	Overlay  *Overlay  `json:"overlay"`
	ID       string    `json:"id"`
	Drop     string    `json:"drop"`
	SKU      string    `json:"sku"`
	Left     *int      `json:"left"`
	State    string    `json:"state"`
	Lot      *Lot      `json:"lot"`
	Giveaway *Giveaway `json:"giveaway"`
}

// DecodeMessage parses and checks one wire message. Errors wrap ErrInvalid.
// Unknown fields are ignored (a newer upstream may add some); an unknown
// version or type is an error.
func DecodeMessage(data []byte) (Message, error) {
	var m Message
	if len(data) > MaxMessageBytes {
		return Message{}, fmt.Errorf("%w: message of %d bytes, limit %d", ErrInvalid, len(data), MaxMessageBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("%w: malformed JSON: %w", ErrInvalid, err)
	}
	if dec.More() {
		return Message{}, fmt.Errorf("%w: data after the message", ErrInvalid)
	}
	if m.V != WireVersion {
		return Message{}, fmt.Errorf("%w: version %d, want %d", ErrInvalid, m.V, WireVersion)
	}
	switch m.Type {
	case TypeState:
		if len(m.Overlays) > MaxStateOverlays {
			return Message{}, fmt.Errorf("%w: state with %d overlays, limit %d", ErrInvalid, len(m.Overlays), MaxStateOverlays)
		}
		for i := range m.Overlays {
			if err := m.Overlays[i].Validate(); err != nil {
				return Message{}, err
			}
		}
	case TypeShow:
		if m.Overlay == nil {
			return Message{}, fmt.Errorf("%w: show without an overlay", ErrInvalid)
		}
		if err := m.Overlay.Validate(); err != nil {
			return Message{}, err
		}
	case TypeHide:
		if !ValidOverlayID(m.ID) {
			return Message{}, fmt.Errorf("%w: hide: bad id", ErrInvalid)
		}
	case TypeStock:
		if !checkout.ValidID(m.Drop) || !checkout.ValidID(m.SKU) || m.Left == nil || *m.Left < 0 || *m.Left > checkout.MaxStock {
			return Message{}, fmt.Errorf("%w: stock needs drop, sku and left in 0-%d", ErrInvalid, checkout.MaxStock)
		}
	case TypeDrop:
		if !checkout.ValidID(m.Drop) || (m.State != checkout.StateOpen && m.State != checkout.StateClosed && m.State != checkout.StateDrawing) {
			return Message{}, fmt.Errorf("%w: drop needs a drop id and state open, drawing or closed", ErrInvalid)
		}
	case TypeLot:
		if m.Lot == nil {
			return Message{}, fmt.Errorf("%w: lot without a lot", ErrInvalid)
		}
		if err := m.Lot.Validate(); err != nil {
			return Message{}, err
		}
	case TypeGiveaway:
		if m.Giveaway == nil {
			return Message{}, fmt.Errorf("%w: giveaway without a giveaway", ErrInvalid)
		}
		if err := m.Giveaway.Validate(); err != nil {
			return Message{}, err
		}
	default:
		return Message{}, fmt.Errorf("%w: unknown type %q", ErrInvalid, m.Type)
	}
	return m, nil
}
