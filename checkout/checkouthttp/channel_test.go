package checkouthttp

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
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

	// The report, JSON and CSV, over the same window, says the same.
	q := "?from=" + from.Format(time.RFC3339Nano) + "&to=" + to.Format(time.RFC3339Nano)
	code, rep := do(t, "GET", e.control+"/v1/drops/d1/report"+q, token, nil, "")
	chans, _ := rep["by_channel"].(map[string]any)
	qr, _ := chans["qr"].(map[string]any)
	if code != 200 || qr["buyers"] != 2.0 || qr["gmv_cents"] != 5000.0 || len(chans) != 3 {
		t.Fatalf("report: %d %v", code, rep)
	}
	if code, _ := do(t, "GET", e.control+"/v1/drops/d1/report", "", nil, ""); code != 401 {
		t.Fatalf("report without token: %d, want 401", code)
	}
	req, _ := http.NewRequest("GET", e.control+"/v1/drops/d1/report"+q+"&format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("report CSV: %d %v", resp.StatusCode, err)
	}
	live := kpi.Compute(ev, from, to)
	want := map[string][]string{
		"total":          {strconv.Itoa(live.Orders), strconv.Itoa(live.Buyers), strconv.FormatInt(live.GMVCents, 10)},
		"channel:qr":     {"2", "2", "5000"},
		"channel:social": {"1", "1", "2500"},
		"channel:direct": {"2", "2", "5000"},
		"region:eu":      {"5", "5", "12500"},
		"currency:EUR":   {"5", "5", "12500"},
	}
	if len(rows) != 1+len(want) || rows[0][0] != "scope" {
		t.Fatalf("CSV rows %v", rows)
	}
	for _, r := range rows[1:] {
		if w, ok := want[r[0]]; !ok || r[1] != w[0] || r[2] != w[1] || r[3] != w[2] {
			t.Errorf("CSV row %v, want orders, buyers, gmv %v", r, w)
		}
	}
	if rows[1][0] != "total" || rows[1][15] != "5" || rows[1][16] != "1" {
		t.Errorf("total row %v: want 5 sold of 5", rows[1])
	}
}
