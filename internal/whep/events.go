package whep

import (
	"github.com/pion/webrtc/v4"
)

// EventsLabel is the data channel a WHEP client opens (before its offer)
// to receive a stream's overlay events.
const EventsLabel = "events"

// EventFeed supplies the encoded event messages of a stream.
type EventFeed interface {
	// Subscribe returns one subscriber's messages, the first being the
	// stream's current state; cancel ends the subscription. A feed never
	// blocks on a slow subscriber.
	Subscribe(stream string) (msgs <-chan []byte, cancel func())
}

// serveEvents pumps a feed into a session's events data channel until the
// channel or the session closes.
func (ss *session) serveEvents(dc *webrtc.DataChannel) {
	feed := ss.srv.p.Events
	if feed == nil || dc.Label() != EventsLabel {
		return
	}
	dc.OnOpen(func() {
		ss.srv.mu.Lock()
		if ss.srv.shutdown {
			ss.srv.mu.Unlock()
			return
		}
		ss.srv.wg.Add(1)
		ss.srv.mu.Unlock()
		go func() {
			defer ss.srv.wg.Done()
			msgs, cancel := feed.Subscribe(ss.stream.Name())
			defer cancel()
			closed := make(chan struct{})
			dc.OnClose(func() { close(closed) })
			for {
				select {
				case <-ss.done:
					return
				case <-closed:
					return
				case m, ok := <-msgs:
					if !ok {
						return
					}
					if err := dc.SendText(string(m)); err != nil {
						return
					}
				}
			}
		}()
	})
}
