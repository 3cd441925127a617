package whep

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
	"github.com/livedrop/livedrop/internal/viewlog"
)

// Who watches, for the event's figures: a player may say, on its offer's
// URL, the channel it came from (?ch=) and who it is (?viewer=, the
// signed-in buyer or the page's device id); both are optional, so any
// WHEP player works. A session joins when its peer connection is up and
// leaves when it ends; an edge tells upstream its sessions' joins and
// leaves with its audience report (AudienceReport.Views), and the node
// above files them under the reporting session, whose end ends those it
// left open.

// ViewSink is told viewer sessions' joins and leaves (a viewlog.Book).
type ViewSink interface {
	Add(stream, node string, evs []viewlog.Event)
	NodeGone(stream, node string)
}

var _ ViewSink = (*viewlog.Book)(nil)

// MaxReportViews bounds the views of one AudienceReport.
const MaxReportViews = 200

// viewTag is what a player's offer says of its viewer; preview marks the
// seller's own preview (?preview=1), which is no viewer.
type viewTag struct {
	viewer, channel string
	preview         bool
}

// tagOf reads ?ch=, ?viewer= and ?preview= of an offer; a viewer id of
// the wrong shape is the session's own.
func tagOf(r *http.Request) viewTag {
	q := r.URL.Query()
	t := viewTag{channel: kpi.Channel(q.Get("ch")), viewer: q.Get("viewer"), preview: q.Get("preview") == "1"}
	if !viewlog.ValidID(t.viewer) {
		t.viewer = ""
	}
	return t
}

// viewEvent is ss's join or leave, now.
func (ss *session) viewEvent(join bool) viewlog.Event {
	v := ss.tag.viewer
	if v == "" {
		v = ss.id
	}
	return viewlog.Event{Session: ss.id, Viewer: v, Channel: ss.tag.channel, Region: ss.srv.p.Region, Join: join,
		AtMS: time.Now().UnixMilli()}
}

// viewState orders a session's join and leave: a leave is noted only
// after its join, and a join after the leave never.
type viewState struct {
	mu             sync.Mutex
	joined, closed bool
}

func (v *viewState) join(ss *session) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed && !v.joined {
		v.joined = true
		ss.noteView(true)
	}
}

// leave notes a player's leave; for a node, the end of what it reported
// (after its last report: a report that comes during close is dropped).
func (v *viewState) leave(ss *session) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.joined && !v.closed {
		ss.noteView(false)
	}
	if ss.node && !v.closed && ss.srv.p.Views != nil {
		ss.srv.p.Views.NodeGone(ss.stream.Name(), ss.id)
	}
	v.closed = true
}

// noteView tells the sink a player's join or leave.
func (ss *session) noteView(join bool) {
	if ss.srv.p.Views == nil || ss.node || ss.tag.preview {
		return
	}
	ss.srv.p.Views.Add(ss.stream.Name(), "", []viewlog.Event{ss.viewEvent(join)})
}

// takeViews files the views a node reported.
func (ss *session) takeViews(msg []byte) {
	if ss.srv.p.Views == nil {
		return
	}
	var r struct {
		Views []viewlog.Event `json:"views"`
	}
	if json.Unmarshal(msg, &r) != nil || len(r.Views) == 0 {
		return
	}
	if len(r.Views) > MaxReportViews {
		r.Views = r.Views[:MaxReportViews]
	}
	ss.view.mu.Lock()
	defer ss.view.mu.Unlock()
	if !ss.view.closed {
		ss.srv.p.Views.Add(ss.stream.Name(), ss.id, r.Views)
	}
}
