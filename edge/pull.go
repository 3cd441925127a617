package edge

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/internal/avc"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
)

// pull is one stream pulled from upstream, shared by its viewers.
type pull struct {
	name     string
	st       *stream.Stream
	refs     int
	linger   *time.Timer
	cancel   context.CancelFunc
	ready    chan struct{} // closed after the first dial's outcome
	firstErr error
}

// MapTS maps a media time (RTP timestamp) of the upstream's timeline onto
// the timeline this edge's viewers see (they differ after an upstream
// reconnect).
func (e *Edge) MapTS(stream string, ts uint32) uint32 { return e.streams.MapTS(stream, ts) }

// Acquire implements whep.Source: it starts pulling the stream if no
// viewer has yet, and waits for the first dial.
func (e *Edge) Acquire(ctx context.Context, name string) (*stream.Stream, func(), error) {
	e.mu.Lock()
	if !e.running {
		e.mu.Unlock()
		return nil, nil, errors.New("edge not running")
	}
	p := e.pulls[name]
	if p == nil {
		// The pull outlives the request that starts it: it is the edge's,
		// ended by release (no viewers left) or by Run's drain.
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p = &pull{name: name, st: stream.New(name, time.Second), cancel: cancel, ready: make(chan struct{})}
		e.pulls[name] = p
		e.streams.Add(p.st)
		e.metrics.Streams.Set(float64(len(e.pulls)))
		e.wg.Add(1)
		go e.runPull(pctx, p)
	}
	p.refs++
	if p.linger != nil {
		p.linger.Stop()
		p.linger = nil
	}
	e.mu.Unlock()
	release := func() { e.release(p) }
	select {
	case <-p.ready:
	case <-ctx.Done():
		release()
		return nil, nil, ctx.Err()
	}
	if p.firstErr != nil {
		release()
		return nil, nil, p.firstErr
	}
	return p.st, release, nil
}

func (e *Edge) release(p *pull) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p.refs--
	if p.refs > 0 || e.pulls[p.name] != p {
		return
	}
	stop := func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if p.refs == 0 && e.pulls[p.name] == p {
			e.forget(p)
		}
	}
	if e.cfg.IdleTimeout == 0 {
		e.forget(p)
		return
	}
	p.linger = time.AfterFunc(e.cfg.IdleTimeout, stop)
}

// forget stops pulling p. e.mu is held.
func (e *Edge) forget(p *pull) {
	delete(e.pulls, p.name)
	e.streams.Remove(p.st)
	e.metrics.Streams.Set(float64(len(e.pulls)))
	p.cancel()
	if e.onGone != nil {
		e.onGone(p.name)
	}
	e.log.Info("upstream released: no viewers left", "stream", p.name)
}

// audienceEvery is how often an edge tells upstream its audience.
const audienceEvery = time.Second

// runPull keeps one upstream connection for p until its context ends,
// redialing with capped backoff. Packets keep continuous sequence numbers
// and timestamps across reconnects, so viewers never renegotiate.
//
// With several origins, a dial that fails moves the pull (and every pull
// after it) to the next origin at once; a full round of failures waits the
// backoff. A connected upstream that sends nothing for UpstreamSilence has
// its origin probed: one that does not answer is dead (its peer connection
// would take the ICE timeouts to notice), and the pull moves on; one that
// answers only lost its camera, and the pull waits for it as before.
func (e *Edge) runPull(ctx context.Context, p *pull) {
	defer e.wg.Done()
	defer p.st.Close()
	up := e.metrics.UpstreamUp.WithLabelValues(p.name)
	defer up.Set(0)
	log := e.log.With("stream", p.name)
	var (
		vReb       = stream.Rebaser{ClockRate: media.VideoClockRate}
		audioClock atomic.Uint32
		lastPacket atomic.Int64 // UnixNano of the newest packet
		haveKey    bool
		keyTS      uint32
		aReb       stream.Rebaser
		// The origin's sender reports place each packet on this node's
		// clock (Packet.At): the viewers' reports then keep the sync the
		// origin sent, whatever the link did to either track.
		syncClk  stream.SyncClock
		first    = true
		delay    = 250 * time.Millisecond
		tried    int // origins that failed since the last good dial
		firstErr error
		pktsV    = e.metrics.PacketsIn.WithLabelValues(p.name, "video")
		pktsA    = e.metrics.PacketsIn.WithLabelValues(p.name, "audio")
		bytesV   = e.metrics.BytesIn.WithLabelValues(p.name, "video")
		bytesA   = e.metrics.BytesIn.WithLabelValues(p.name, "audio")
	)
	onPacket := func(kind stream.Kind, pkt *rtp.Packet) {
		now := time.Now()
		lastPacket.Store(now.UnixNano())
		h := pkt.Header
		h.Extension, h.Extensions, h.CSRC = false, nil, nil
		sp := &stream.Packet{Kind: kind, Payload: pkt.Payload, Arrival: now, At: syncClk.Time(kind, pkt.Timestamp, 0, now)}
		if kind == stream.Video {
			vReb.Map(&h, now)
			p.st.SetSourceOffset(h.Timestamp - pkt.Timestamp)
			// One keyframe mark per access unit: its first decodable packet.
			if avc.IsKeyframeStart(pkt.Payload) && !(haveKey && h.Timestamp == keyTS) {
				sp.Keyframe, haveKey, keyTS = true, true, h.Timestamp
			}
			pktsV.Inc()
			bytesV.Add(float64(len(pkt.Payload)))
		} else {
			// The audio rebaser belongs to the audio track's goroutine;
			// runPull hands it the clock rate of each new upstream.
			aReb.ClockRate = audioClock.Load()
			aReb.Map(&h, now)
			pktsA.Inc()
			bytesA.Add(float64(len(pkt.Payload)))
		}
		sp.Header = h
		p.st.WritePacket(sp)
	}
	giveUpFirst := func(err error) {
		p.firstErr = err
		e.mu.Lock()
		if e.pulls[p.name] == p {
			delete(e.pulls, p.name)
			e.streams.Remove(p.st)
			e.metrics.Streams.Set(float64(len(e.pulls)))
		}
		e.mu.Unlock()
		close(p.ready)
	}
	for {
		oi, base := e.origins.current()
		url, err := whep.EndpointURL(base, p.name)
		if err != nil { // validated in Config; kept for safety
			if first {
				giveUpFirst(err)
			}
			return
		}
		tok, err := e.access.NodeToken(e.cfg.ID())
		if err != nil {
			log.Error("node token", "err", err) // a signing failure: not expected with HS256
		}
		syncClk.Reset() // a new upstream session: new timestamps, new reports
		cp := whep.ClientParams{API: e.pullAPI, URL: url, HTTP: e.http, OnPacket: onPacket, Token: tok,
			OnSenderReport: func(k stream.Kind, ntp time.Time, ts uint32) { syncClk.Report(k, ntp, ts) }}
		// The events channel is opened whatever this edge does with the
		// origin's events: the edge tells its audience on it.
		cp.OnEvent = func([]byte) {}
		if e.onEvent != nil {
			cp.OnEvent = func(msg []byte) { e.onEvent(p.name, msg) }
		}
		c, err := whep.Dial(ctx, cp)
		if err != nil {
			result := "error"
			if errors.Is(err, whep.ErrNotFound) {
				result = "not_found"
			}
			e.metrics.UpstreamDials.WithLabelValues(p.name, result).Inc()
			if ctx.Err() != nil {
				if first {
					p.firstErr = ctx.Err()
					close(p.ready)
				}
				return
			}
			if first && (firstErr == nil || !errors.Is(err, whep.ErrNotFound)) {
				// Not found everywhere is "not found"; any other failure wins.
				firstErr = err
			}
			if tried++; tried < e.origins.len() {
				if e.origins.failed(oi) {
					e.metrics.UpstreamFailovers.WithLabelValues(p.name).Inc()
				}
				log.Warn("upstream dial failed, trying the next origin", "origin", base, "err", err)
				continue
			}
			tried = 0
			if first {
				if errors.Is(firstErr, whep.ErrNotFound) {
					giveUpFirst(whep.ErrNotFound)
				} else {
					giveUpFirst(fmt.Errorf("upstream %s: %w", base, firstErr))
				}
				return
			}
			if e.origins.failed(oi) {
				e.metrics.UpstreamFailovers.WithLabelValues(p.name).Inc()
			}
			log.Warn("upstream dial failed, retrying", "origin", base, "err", err, "in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, 5*time.Second)
			continue
		}
		e.metrics.UpstreamDials.WithLabelValues(p.name, "ok").Inc()
		up.Set(1)
		delay, tried = 250*time.Millisecond, 0
		lastPacket.Store(time.Now().UnixNano())
		tracks := c.Tracks()
		syncClk.SetRate(stream.Video, media.VideoClockRate)
		if tracks.Audio != nil {
			audioClock.Store(tracks.Audio.ClockRate)
			syncClk.SetRate(stream.Audio, tracks.Audio.ClockRate)
		}
		p.st.OnKeyframeRequest(func() {
			if c.RequestKeyframe() == nil {
				e.metrics.KeyframeRequests.WithLabelValues("out").Inc()
			}
		})
		p.st.SetTracks(tracks)
		if first {
			first = false
			close(p.ready)
		}
		log.Info("upstream connected", "url", url, "audio", tracks.Audio != nil)
		dead := e.watchUpstream(ctx, c, p.name, base, &lastPacket)
		up.Set(0)
		p.st.OnKeyframeRequest(nil)
		if dead {
			if e.origins.failed(oi) {
				e.metrics.UpstreamFailovers.WithLabelValues(p.name).Inc()
			}
			// The dead origin will not answer the DELETE: close without
			// waiting for it, on the pull's clock.
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 100*time.Millisecond)
			_ = c.Close(closeCtx)
			cancel()
		} else {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = c.Close(closeCtx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// watchUpstream waits until ctx ends or the upstream connection c ends
// (false), or c has been silent for UpstreamSilence and its origin does
// not answer a probe (true: the origin is dead). Meanwhile it tells
// upstream how many watch name through this edge (whep.Audience), so the
// origin knows every edge's viewers of the stream.
func (e *Edge) watchUpstream(ctx context.Context, c *whep.Client, name, base string, lastPacket *atomic.Int64) (dead bool) {
	log := e.log.With("origin", base)
	silence := e.cfg.UpstreamSilence
	var (
		tick   <-chan time.Time
		probed time.Time
	)
	if silence > 0 && e.origins.len() > 1 {
		t := time.NewTicker(silence / 4)
		defer t.Stop()
		tick = t.C
	}
	report := time.NewTicker(audienceEvery)
	defer report.Stop()
	resync := true // a new upstream connection hears the open sessions again
	for {
		select {
		case <-report.C:
			e.reportUp(c, name, &resync)
		case <-ctx.Done():
			e.reportUp(c, name, &resync) // the last viewer's leave
			return false
		case <-c.Done():
			log.Warn("upstream lost, redialing", "err", c.Err())
			return false
		case <-tick:
			quiet := time.Since(time.Unix(0, lastPacket.Load()))
			if quiet < silence || time.Since(probed) < silence {
				continue // one probe per silence at most (a long camera flap)
			}
			probed = time.Now()
			if err := e.origins.alive(ctx, base); err != nil {
				log.Warn("upstream silent and its origin does not answer: moving to the next origin", "silent", quiet.Round(time.Millisecond), "err", err)
				return true
			}
		}
	}
}
