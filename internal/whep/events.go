package whep

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
