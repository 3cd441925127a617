package edge

import (
	"github.com/livedrop/livedrop/internal/viewlog"
	"github.com/livedrop/livedrop/internal/whep"
)

// The edge's viewer joins and leaves travel upstream with its audience
// report: its book (e.views) queues its players' and its downstream
// edges' events, and each report carries a batch of them.

// maxReportsPerTick bounds the reports one tick sends (a burst of joins
// waits in the book for the next ticks).
const maxReportsPerTick = 10

// reportUp tells upstream how many watch name through this edge, with the
// joins and leaves since the last report; after a new connection
// (*resync) first the joins of the sessions still open.
func (e *Edge) reportUp(c *whep.Client, name string, resync *bool) {
	if !c.EventsOpen() {
		return
	}
	viewers := e.whep.Audience(name)
	var pending []viewlog.Event
	if *resync {
		pending, *resync = e.views.Open(name), false
	}
	for i := 0; i < maxReportsPerTick; i++ {
		r := whep.AudienceReport{Viewers: viewers}
		if len(pending) > 0 {
			n := min(len(pending), whep.MaxReportViews)
			r.Views, pending = pending[:n], pending[n:]
		} else {
			r.Views = e.views.Take(name, whep.MaxReportViews)
		}
		if sent, err := c.Report(r); !sent || err != nil {
			return // lost with the connection: the next one resyncs
		}
		if len(r.Views) < whep.MaxReportViews && len(pending) == 0 {
			return
		}
	}
}
