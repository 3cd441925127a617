package checkouthttp

import (
	"context"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/viewlog"
)

// TestReportWindowOpensWhenTheDropOpened: a drop opened by the seller,
// without opens_at and before any order, is reported from the moment it
// opened (the store's opened_at): a viewer who came and went before the
// first order still counts.
func TestReportWindowOpensWhenTheDropOpened(t *testing.T) {
	e := start(t, nil)
	book, err := viewlog.New(viewlog.Params{})
	if err != nil {
		t.Fatal(err)
	}
	e.capi.SetViews(book)
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	if code, body := do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, ""); code != 200 {
		t.Fatalf("open: %d %v", code, body)
	}
	d, err := e.store.Drop(context.Background(), "d1")
	if err != nil || d.OpenedAt.IsZero() {
		t.Fatalf("the store's drop %+v (%v): no opened_at", d, err)
	}
	opened := d.OpenedAt
	at := time.Now().UnixMilli()
	book.Add("cam1", "", []viewlog.Event{
		{Session: "s1", Viewer: "ann", Channel: "qr", Join: true, AtMS: at},
		{Session: "s1", Viewer: "ann", Channel: "qr", AtMS: at + 1},
	})
	code, rep := do(t, "GET", e.control+"/v1/drops/d1/report", token, nil, "")
	total, _ := rep["total"].(map[string]any)
	from, _ := time.Parse(time.RFC3339Nano, func() string { s, _ := total["from"].(string); return s }())
	if code != 200 || !from.Equal(opened) {
		t.Fatalf("report: %d from %v, want the drop's opening %v", code, total["from"], opened)
	}
	if total["unique_viewers"] != 1.0 {
		t.Fatalf("report: unique_viewers %v, want 1 (ann came and went after the opening)", total["unique_viewers"])
	}
}
