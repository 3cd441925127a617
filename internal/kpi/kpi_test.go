package kpi

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)

func at(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// event is a 2-hour show: three viewers from qr, two from social; two
// buyers from qr, one from social.
func event() Events {
	return Events{
		Views: []View{
			{Viewer: "a", Session: "a1", Channel: "qr", Region: "eu", Join: true, At: at(0)},
			{Viewer: "b", Session: "b1", Channel: "qr", Region: "eu", Join: true, At: at(10)},
			{Viewer: "c", Session: "c1", Channel: "qr", Region: "us", Join: true, At: at(20)},
			{Viewer: "d", Session: "d1", Channel: "social", Region: "us", Join: true, At: at(30)},
			{Viewer: "a", Session: "a1", Channel: "qr", Region: "eu", At: at(40)},
			// a hand-over at minute 50: e joins as b leaves, not a peak of 4
			{Viewer: "b", Session: "b1", Channel: "qr", Region: "eu", At: at(50)},
			{Viewer: "e", Session: "e1", Channel: "social", Region: "eu", Join: true, At: at(50)},
			{Viewer: "c", Session: "c1", Channel: "qr", Region: "us", At: at(80)},
			// a comes back: one unique viewer, two sessions
			{Viewer: "a", Session: "a2", Channel: "qr", Region: "eu", Join: true, At: at(90)},
		},
		Sales: []Sale{
			{Drop: "d1", Buyer: "a", Channel: "qr", Region: "eu", Qty: 2, TotalCents: 5000, Paid: true, At: at(35)},
			{Drop: "d1", Buyer: "a", Channel: "qr", Region: "eu", Qty: 1, TotalCents: 2500, Paid: false, At: at(36)},
			{Drop: "d1", Buyer: "c", Channel: "qr", Region: "us", Qty: 1, TotalCents: 2500, Paid: true, At: at(45)},
			{Drop: "d1", Buyer: "d", Channel: "social", Region: "us", Qty: 1, TotalCents: 2500, Paid: true, At: at(60)},
		},
		Consents: []Consent{{Channel: "qr", Region: "eu", At: at(5)}, {Channel: "social", Region: "us", At: at(31)}},
		Drops:    []Drop{{ID: "d1", Stock: 5, OpenedAt: at(30)}, {ID: "d2", Stock: 10, OpenedAt: at(70)}},
	}
}

func TestComputeWholeShow(t *testing.T) {
	f := Compute(event(), at(0), at(120))
	// GMV 5000+2500+2500+2500 = 12500 over 2 h: 6250/h; revenue (paid)
	// 10000: 5000/h. 4 orders: AOV 3125. Buyers a, c, d: 3 of 5 viewers.
	if f.GMVCents != 12500 || f.RevenueCents != 10000 || f.Orders != 4 || f.Buyers != 3 {
		t.Fatalf("sales figures %+v", f)
	}
	near(t, "GMV/h", f.GMVPerHourCents, 6250)
	near(t, "revenue/h", f.RevenuePerHourCents, 5000)
	near(t, "AOV", f.AOVCents, 3125)
	if f.UniqueViewers != 5 {
		t.Fatalf("unique viewers %d, want 5", f.UniqueViewers)
	}
	near(t, "conversion", f.Conversion, 0.6)
	// Concurrency: 1,2,3,4 (min 30), 3 (40), 3 (50: b out, e in), 2 (80),
	// 3 (90): peak 4, at the end 3 (d, e, a2).
	if f.PeakConcurrent != 4 || f.CurrentConcurrent != 3 {
		t.Fatalf("concurrency peak %d current %d, want 4 and 3", f.PeakConcurrent, f.CurrentConcurrent)
	}
	// Watch minutes: a1 40, b 40, c 60, d 90, e 70, a2 30 = 330 min =
	// 19800 s, over 5 viewers: 3960 s.
	near(t, "watch", f.WatchSeconds, 19800)
	near(t, "avg watch", f.AvgWatchSeconds, 3960)
	if f.NewConsents != 2 {
		t.Fatalf("consents %d, want 2", f.NewConsents)
	}
}

func TestComputeWindow(t *testing.T) {
	// [30, 60): sales at 35, 36, 45 (the one at 60 is outside): 10000 in
	// half an hour = 20000/h, revenue 7500 = 15000/h.
	f := Compute(event(), at(30), at(60))
	if f.Orders != 3 || f.GMVCents != 10000 || f.RevenueCents != 7500 {
		t.Fatalf("sales figures %+v", f)
	}
	near(t, "GMV/h", f.GMVPerHourCents, 20000)
	near(t, "revenue/h", f.RevenuePerHourCents, 15000)
	// At 30: a, b, c open and d joins: 4. Watch inside the window: a 10,
	// b 20, c 30, d 30, e 10 = 100 min.
	if f.PeakConcurrent != 4 || f.CurrentConcurrent != 3 || f.UniqueViewers != 5 {
		t.Fatalf("audience %+v", f)
	}
	near(t, "watch", f.WatchSeconds, 6000)

	// [100, 120): no event inside; d, e, a2 watch all along.
	f = Compute(event(), at(100), at(120))
	if f.PeakConcurrent != 3 || f.CurrentConcurrent != 3 || f.UniqueViewers != 3 || f.Orders != 0 {
		t.Fatalf("quiet window %+v", f)
	}
	near(t, "watch", f.WatchSeconds, 3600)
	near(t, "AOV without orders", f.AOVCents, 0)
}

func TestPeakFromJoinsAndLeaves(t *testing.T) {
	// Out of order, a repeated join and a leave without join: peak 2.
	ev := Events{Views: []View{
		{Viewer: "x", Session: "x", Join: true, At: at(5)},
		{Viewer: "y", Session: "y", Join: true, At: at(1)},
		{Viewer: "y", Session: "y", Join: true, At: at(2)},
		{Viewer: "z", Session: "z", At: at(3)},
		{Viewer: "y", Session: "y", At: at(6)},
		{Viewer: "z", Session: "z2", Join: true, At: at(6)},
	}}
	f := Compute(ev, at(0), at(10))
	if f.PeakConcurrent != 2 || f.CurrentConcurrent != 2 || f.UniqueViewers != 3 {
		t.Fatalf("%+v", f)
	}
	// y 5 min, x 5, z2 4: 14 min.
	near(t, "watch", f.WatchSeconds, 14*60)
}

func TestSplitByChannelAndRegion(t *testing.T) {
	ch := ByChannel(event(), at(0), at(120))
	qr, social := ch["qr"], ch["social"]
	// qr: viewers a, b, c; buyers a, c; 3 orders, 10000.
	if qr.UniqueViewers != 3 || qr.Buyers != 2 || qr.Orders != 3 || qr.GMVCents != 10000 {
		t.Fatalf("qr %+v", qr)
	}
	near(t, "qr conversion", qr.Conversion, 2.0/3)
	// social: d, e; buyer d.
	if social.UniqueViewers != 2 || social.Buyers != 1 || social.GMVCents != 2500 || social.NewConsents != 1 {
		t.Fatalf("social %+v", social)
	}
	near(t, "social conversion", social.Conversion, 0.5)
	re := ByRegion(event(), at(0), at(120))
	if re["eu"].Orders != 2 || re["us"].Orders != 2 || re["eu"].UniqueViewers != 3 || re["us"].UniqueViewers != 2 {
		t.Fatalf("regions %+v", re)
	}
	if len(ch) != 2 || len(re) != 2 {
		t.Fatalf("keys %d channels, %d regions", len(ch), len(re))
	}
}

func TestDrops(t *testing.T) {
	ev := event()
	ev.Drops = append(ev.Drops, Drop{ID: "d3", Stock: 4, OpenedAt: at(100)})
	ev.Sales = append(ev.Sales, Sale{Drop: "d3", Buyer: "e", Qty: 3, TotalCents: 100, At: at(101)})
	d := Drops(ev)
	// d1: 2 (35) + 1 (36) + 1 (45) + 1 (60) = 5 of 5, the last unit 30 min
	// after the opening at minute 30.
	if d[0].Sold != 5 || d[0].SoldOutAfter != 30*time.Minute {
		t.Fatalf("d1 %+v", d[0])
	}
	near(t, "d1 sell-through", d[0].SellThrough, 1)
	if d[1].Sold != 0 || d[1].SellThrough != 0 || d[1].SoldOutAfter != 0 {
		t.Fatalf("d2 %+v", d[1])
	}
	// d3: 3 of 4, not sold out.
	if d[2].Sold != 3 || d[2].SoldOutAfter != 0 {
		t.Fatalf("d3 %+v", d[2])
	}
	near(t, "d3 sell-through", d[2].SellThrough, 0.75)
}

func TestChannel(t *testing.T) {
	for in, want := range map[string]string{
		"qr": "qr", "social": "social", "ig_story-2": "ig_story-2",
		"": Direct, "QR": Direct, "a b": Direct, "x{y}": Direct,
		"abcdefghijklmnopqrstuvwxyz012345":  "abcdefghijklmnopqrstuvwxyz012345",
		"abcdefghijklmnopqrstuvwxyz0123456": Direct,
	} {
		if got := Channel(in); got != want {
			t.Errorf("Channel(%q) = %q, want %q", in, got, want)
		}
	}
}

// A drop sold at regional prices: the total says its money figures mix
// currencies, and each currency's figures are its own sales only.
func TestByCurrency(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ev := Events{
		Sales: []Sale{
			{Buyer: "a", Region: "eu", Qty: 1, TotalCents: 2500, Currency: "EUR", Paid: true, At: t0.Add(time.Minute)},
			{Buyer: "b", Region: "eu", Qty: 2, TotalCents: 5000, Currency: "EUR", At: t0.Add(2 * time.Minute)},
			{Buyer: "c", Region: "us", Qty: 1, TotalCents: 2900, Currency: "USD", Paid: true, At: t0.Add(3 * time.Minute)},
		},
		Views: []View{{Viewer: "a", Session: "s1", Region: "eu", Join: true, At: t0}},
	}
	to := t0.Add(30 * time.Minute)
	if f := Compute(ev, t0, to); f.Currency != Mixed || f.Orders != 3 {
		t.Fatalf("total: currency %q, orders %d; want mixed, 3", f.Currency, f.Orders)
	}
	if f := ByRegion(ev, t0, to)["eu"]; f.Currency != "EUR" || f.GMVCents != 7500 {
		t.Fatalf("eu: %q %d, want EUR 7500", f.Currency, f.GMVCents)
	}
	by := ByCurrency(ev, t0, to)
	eur, usd := by["EUR"], by["USD"]
	// EUR: 2 orders, GMV 75.00, revenue 25.00 (one paid), AOV 37.50, 150.00/h over half an hour.
	if len(by) != 2 || eur.Currency != "EUR" || eur.Orders != 2 || eur.Buyers != 2 || eur.GMVCents != 7500 ||
		eur.RevenueCents != 2500 || eur.AOVCents != 3750 || eur.GMVPerHourCents != 15000 || eur.UniqueViewers != 0 {
		t.Fatalf("EUR figures %+v", eur)
	}
	if usd.Currency != "USD" || usd.Orders != 1 || usd.GMVCents != 2900 || usd.RevenueCents != 2900 || usd.AOVCents != 2900 {
		t.Fatalf("USD figures %+v", usd)
	}
	if f := Compute(Events{}, t0, to); f.Currency != "" {
		t.Fatalf("no sales: currency %q, want empty", f.Currency)
	}
}

// A channel whose sales mix currencies is split into its figures per
// currency; a channel in one currency is not repeated.
func TestMixedByCurrency(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ev := Events{Sales: []Sale{
		{Buyer: "a", Channel: "qr", Qty: 1, TotalCents: 2500, Currency: "EUR", Paid: true, At: t0.Add(time.Minute)},
		{Buyer: "b", Channel: "qr", Qty: 1, TotalCents: 2900, Currency: "USD", At: t0.Add(2 * time.Minute)},
		{Buyer: "c", Channel: "qr", Qty: 2, TotalCents: 5800, Currency: "USD", Paid: true, At: t0.Add(3 * time.Minute)},
		{Buyer: "d", Channel: "social", Qty: 1, TotalCents: 2500, Currency: "EUR", At: t0.Add(4 * time.Minute)},
	}}
	to := t0.Add(time.Hour)
	rows := ByChannel(ev, t0, to)
	if rows["qr"].Currency != Mixed || rows["social"].Currency != "EUR" {
		t.Fatalf("rows: qr %q, social %q; want mixed, EUR", rows["qr"].Currency, rows["social"].Currency)
	}
	per := MixedByCurrency(ev, t0, to, rows, ByChannel)
	if len(per) != 1 || len(per["qr"]) != 2 {
		t.Fatalf("split rows %v, want qr only, in 2 currencies", per)
	}
	// qr in USD: 2 orders, GMV 87.00, revenue 58.00, AOV 43.50; in EUR: 1 order of 25.00.
	if u := per["qr"]["USD"]; u.Currency != "USD" || u.Orders != 2 || u.GMVCents != 8700 || u.RevenueCents != 5800 || u.AOVCents != 4350 {
		t.Fatalf("qr USD %+v", u)
	}
	if e := per["qr"]["EUR"]; e.Currency != "EUR" || e.Orders != 1 || e.GMVCents != 2500 {
		t.Fatalf("qr EUR %+v", e)
	}
}
