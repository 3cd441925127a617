package checkouthttp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/kpi"
)

// TestOrdersCarryTheirChannel: viewers who came from ?ch=qr and ?ch=social
// buy; each order keeps its channel and the edge's region as the store
// holds it, a made-up channel is "direct", and the event figures split the
// buyers by channel.
func TestOrdersCarryTheirChannel(t *testing.T) {
	e := start(t, nil)
	if code, _ := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code, _ := do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, ""); code != 200 {
		t.Fatalf("open: %d", code)
	}
	buys := []struct{ buyer, channel, want string }{
		{"qa", `,"channel":"qr"`, "qr"},
		{"qb", `,"channel":"qr"`, "qr"},
		{"sa", `,"channel":"social"`, "social"},
		{"xa", `,"channel":"Evil Label{}"`, kpi.Direct},
		{"na", ``, kpi.Direct},
	}
	for i, b := range buys {
		code, o := do(t, "POST", e.edge+"/v1/drops/d1/orders", e.buyers.Token(b.buyer), map[string]string{"Idempotency-Key": fmt.Sprint("k", i)},
			fmt.Sprintf(`{"sku":"tee","qty":1%s}`, b.channel))
		if code != 201 || o["channel"] != b.want || o["region"] != "eu" {
			t.Fatalf("%s: %d %v, want channel %q region eu", b.buyer, code, o, b.want)
		}
	}
	// The store's orders, once shipped, carry the same.
	var orders []checkout.Order
	deadline := time.Now().Add(5 * time.Second)
	for {
		ids, _, err := e.store.OrdersSince(context.Background(), "d1", "", 100)
		if err == nil && len(ids) == len(buys) {
			orders = orders[:0]
			for _, id := range ids {
				o, err := e.store.Order(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				orders = append(orders, o)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store holds %d orders (%v), want %d", len(ids), err, len(buys))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ev kpi.Events
	for _, o := range orders {
		ev.Sales = append(ev.Sales, kpi.Sale{Drop: o.Drop, Buyer: o.Buyer, Channel: o.Channel, Region: o.Region, Qty: o.Qty, TotalCents: o.TotalCents, At: o.CreatedAt})
	}
	from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Minute)
	by := kpi.ByChannel(ev, from, to)
	if by["qr"].Buyers != 2 || by["social"].Buyers != 1 || by[kpi.Direct].Buyers != 2 || len(by) != 3 {
		t.Fatalf("by channel: qr %d social %d direct %d (%d channels)", by["qr"].Buyers, by["social"].Buyers, by[kpi.Direct].Buyers, len(by))
	}
	if by["qr"].GMVCents != 5000 || kpi.ByRegion(ev, from, to)["eu"].Orders != len(buys) {
		t.Fatalf("qr GMV %d, eu orders %d", by["qr"].GMVCents, kpi.ByRegion(ev, from, to)["eu"].Orders)
	}
}
