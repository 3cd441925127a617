package auction

import (
	"encoding/binary"
	"testing"
)

// FuzzResolve runs bid sequences drawn from the input and checks what must
// hold after every bid: a refused bid changes nothing; the price never
// falls, never passes the leader's maximum, and meets every rival's plain
// bid; the leader is the first bidder of the highest maximum; the end only
// moves by the extension rule; and nothing counts at or after the end.
func FuzzResolve(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 1, 2, 20, 0, 3, 1, 200, 9, 2, 3, 30, 0})
	f.Add([]byte{5, 0, 255, 255, 5, 1, 0, 1, 6, 2, 128, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		l := testLot()
		l.ReserveCents = 1500
		if len(data) > 0 && data[0]&1 == 1 {
			l.SuddenDeath = true
			l.Normalize()
		}
		s := live(60_000)
		now := int64(0)
		topOf := map[string]int64{}
		best, bestBy := int64(0), ""
		for len(data) >= 4 {
			buyer := string(rune('a' + data[0]%6))
			amount := int64(binary.BigEndian.Uint16(data[2:4])) + 1
			now += int64(data[1]) * 500
			b := Bid{Buyer: buyer, AmountCents: amount}
			if data[0]&0x80 != 0 {
				b = Bid{Buyer: buyer, MaxCents: amount}
			}
			data = data[4:]
			prev := s
			next, res := Resolve(l, s, b, now)
			if !res.Valid() {
				if next != prev {
					t.Fatalf("refused bid %+v (%s) changed the state: %+v -> %+v", b, res, prev, next)
				}
				if now < prev.EndsMS && res == AuctionOver {
					t.Fatalf("bid before the end refused as over")
				}
				continue
			}
			if now >= prev.EndsMS {
				t.Fatalf("bid at %d counted after the end %d", now, prev.EndsMS)
			}
			s = next
			top := max(b.AmountCents, b.MaxCents)
			topOf[buyer] = max(topOf[buyer], top)
			if top > best {
				best, bestBy = top, buyer
			}
			switch {
			case s.PriceCents < prev.PriceCents:
				t.Fatalf("price fell %d -> %d", prev.PriceCents, s.PriceCents)
			case s.PriceCents > s.LeaderMax:
				t.Fatalf("price %d above the leader's max %d", s.PriceCents, s.LeaderMax)
			case s.Leader != bestBy || s.LeaderMax != best:
				t.Fatalf("leader %s (max %d), want %s (max %d)", s.Leader, s.LeaderMax, bestBy, best)
			case prev.Leader != buyer && s.PriceCents < b.AmountCents:
				t.Fatalf("rival's plain bid %d above the price %d", b.AmountCents, s.PriceCents)
			case s.PriceCents < l.StartCents:
				t.Fatalf("price %d under the start", s.PriceCents)
			case s.LeaderMax >= l.ReserveCents && s.PriceCents < l.ReserveCents:
				t.Fatalf("reserve met by max %d but price %d", s.LeaderMax, s.PriceCents)
			}
			wantEnds := prev.EndsMS
			if !l.SuddenDeath {
				wantEnds = max(prev.EndsMS, now+l.ExtendMS)
			}
			if s.EndsMS != wantEnds {
				t.Fatalf("ends %d after a bid at %d (was %d), want %d", s.EndsMS, now, prev.EndsMS, wantEnds)
			}
		}
	})
}
