package e2e

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/kpi"
	"github.com/livedrop/livedrop/internal/viewlog"
	"github.com/livedrop/livedrop/origin"
)

// TestViewsThroughAnEdgeChain: viewers at an edge and at an edge behind
// it reach the origin's book of views with their channel, their viewer id
// and the region of the edge that serves them; a viewer who leaves at the
// second edge is a leave at the origin.
func TestViewsThroughAnEdgeChain(t *testing.T) {
	book, err := viewlog.New(viewlog.Params{})
	if err != nil {
		t.Fatal(err)
	}
	o := startOriginWith(t, nil, func(p *origin.Params) { p.Views = book })
	pub := startFFmpeg(t, encodeArgs(30), publishURL(o, "cam", pubUser, pubPass))
	waitOnline(t, o, "cam", pub)
	e1 := startEdge(t, "http://"+o.HTTPAddr(), func(c *edge.Config) { c.Region = "eu-1" })
	e2 := startEdge(t, "http://"+e1.HTTPAddr(), func(c *edge.Config) { c.Region = "eu-2" })
	mustViewer(t, "http://"+e1.HTTPAddr()+"/whep/cam?ch=qr&viewer=va")
	vb := mustViewer(t, "http://"+e2.HTTPAddr()+"/whep/cam?ch=social&viewer=vb")

	byViewer := func() map[string]kpi.View {
		views, _ := book.Views("cam")
		out := map[string]kpi.View{}
		for _, v := range views {
			if v.Join {
				out[v.Viewer] = v
			}
		}
		return out
	}
	waitFor(t, 20*time.Second, "both viewers' joins at the origin", func() bool { return len(byViewer()) == 2 })
	got := byViewer()
	if a := got["va"]; a.Channel != "qr" || a.Region != "eu-1" {
		t.Errorf("viewer at the first edge: %+v", a)
	}
	if b := got["vb"]; b.Channel != "social" || b.Region != "eu-2" {
		t.Errorf("viewer at the second edge: %+v", b)
	}
	if open := book.Open("cam"); len(open) != 2 {
		t.Errorf("open sessions at the origin: %+v", open)
	}

	if err := vb.c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second edge's viewer to leave at the origin", func() bool {
		open := book.Open("cam")
		return len(open) == 1 && open[0].Viewer == "va"
	})
	f := kpi.Compute(kpi.Events{Views: func() []kpi.View { v, _ := book.Views("cam"); return v }()}, time.Now().Add(-time.Hour), time.Now())
	if f.UniqueViewers != 2 || f.CurrentConcurrent != 1 || f.PeakConcurrent != 2 {
		t.Errorf("figures %+v, want 2 unique viewers, 1 now, peak 2", f)
	}
}
