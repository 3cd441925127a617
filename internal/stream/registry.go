package stream

import "sync"

// Registry finds a node's streams by name for the parts that read their
// media time without owning them: overlay hubs stamp events with a
// stream's clock (origin) or map the upstream's stamps onto it (edge).
// Build it first and hand it to both the node, which adds and removes its
// streams, and the hub, which reads them; neither needs the other.
type Registry struct {
	mu      sync.RWMutex
	streams map[string]*Stream
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{streams: map[string]*Stream{}} }

// Add makes s the stream of its name, replacing any other.
func (r *Registry) Add(s *Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams[s.Name()] = s
}

// Remove forgets s, unless another stream has taken its name since.
func (r *Registry) Remove(s *Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams[s.Name()] == s {
		delete(r.streams, s.Name())
	}
}

func (r *Registry) get(name string) *Stream {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.streams[name]
}

// MediaClock returns the RTP timestamp of the last video packet of the
// named stream; ok is false for an unknown stream or before its first video.
func (r *Registry) MediaClock(name string) (ts uint32, ok bool) {
	s := r.get(name)
	if s == nil {
		return 0, false
	}
	return s.LastVideoTimestamp()
}

// MapTS maps a timestamp of the named stream's source onto the stream's
// timeline (FromSource); an unknown stream keeps ts.
func (r *Registry) MapTS(name string, ts uint32) uint32 {
	s := r.get(name)
	if s == nil {
		return ts
	}
	return s.FromSource(ts)
}
