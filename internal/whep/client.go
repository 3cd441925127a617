package whep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// StatusError is a WHEP server's refusal.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("whep: server answered %d: %s", e.Code, strings.TrimSpace(e.Body))
}

// Is makes a 404 match ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// ClientParams configure Dial.
type ClientParams struct {
	API *peer.API
	// URL is the WHEP endpoint, e.g. http://origin:8081/whep/demo.
	URL string
	// HTTP sends the offer and the DELETE (required: the caller's client,
	// with its timeouts and transport).
	HTTP *http.Client
	// OnPacket receives every RTP packet that carries media, without RTP
	// padding (withoutPadding); it is called from one goroutine
	// per track and must not keep pkt past the call unless it owns it
	// (each packet is freshly allocated, so keeping it is fine).
	OnPacket func(kind stream.Kind, pkt *rtp.Packet)
	// OnSenderReport, when set, receives the RTCP sender reports of the
	// server's tracks: RTP timestamp ts was captured at ntp, what keeps a
	// stream's tracks in sync (stream.SyncClock); called from one
	// goroutine per track.
	OnSenderReport func(kind stream.Kind, ntp time.Time, ts uint32)
	// NoAudio offers video only.
	NoAudio bool
	// ReuseBuffers reads into one buffer per track: the packet handed to
	// OnPacket is valid only during the call (no allocation per packet).
	ReuseBuffers bool
	// OnEvent, when set, opens the "events" data channel and receives
	// each message from it, in order.
	OnEvent func(msg []byte)
	// Token, when set, is sent as "Authorization: Bearer" with the offer:
	// an edge's node token, or a viewer's playback token.
	Token string
	// OfferRTX asks for retransmissions on an RTX stream (RFC 4588). Off by
	// default: pion's NACK generator watches only the original stream and
	// would ask again for packets repaired over RTX.
	OfferRTX bool
}

var errNoHTTPClient = errors.New("whep: ClientParams.HTTP is required")

// Client is one WHEP session pulled from a server.
type Client struct {
	pc       *webrtc.PeerConnection
	location string
	http     *http.Client
	tracks   stream.Tracks
	links    []string
	events   *webrtc.DataChannel // nil without OnEvent

	mu       sync.Mutex
	closed   bool
	videoRx  webrtc.SSRC
	wg       sync.WaitGroup
	done     chan struct{}
	doneOnce sync.Once
	err      error
}

// Dial offers to receive video and audio, and returns once the server's
// answer is applied. Media arrives on p.OnPacket.
func Dial(ctx context.Context, p ClientParams) (*Client, error) {
	if p.HTTP == nil {
		return nil, errNoHTTPClient
	}
	hc := p.HTTP
	pc, err := p.API.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	c := &Client{pc: pc, http: hc, done: make(chan struct{})}
	fail := func(err error) (*Client, error) {
		c.shut()
		return nil, err
	}
	vt, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err != nil {
		return fail(err)
	}
	if !p.OfferRTX {
		if err := vt.SetCodecPreferences([]webrtc.RTPCodecParameters{peer.H264Codec}); err != nil {
			return fail(err)
		}
	}
	if !p.NoAudio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fail(err)
		}
	}
	if p.OnEvent != nil {
		dc, err := pc.CreateDataChannel(EventsLabel, nil)
		if err != nil {
			return fail(err)
		}
		dc.OnMessage(func(m webrtc.DataChannelMessage) { p.OnEvent(m.Data) })
		c.events = dc
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		kind := stream.Audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			kind = stream.Video
			c.videoRx = tr.SSRC()
		}
		c.wg.Add(1)
		if p.OnSenderReport != nil {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				readReports(rx, uint32(tr.SSRC()), kind, p.OnSenderReport)
			}()
		}
		c.mu.Unlock()
		defer c.wg.Done()
		if p.ReuseBuffers {
			buf := make([]byte, 1500)
			var pkt rtp.Packet
			for {
				n, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				if pkt.Unmarshal(buf[:n]) == nil && p.OnPacket != nil && withoutPadding(&pkt) {
					p.OnPacket(kind, &pkt)
				}
			}
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if p.OnPacket != nil && withoutPadding(pkt) {
				p.OnPacket(kind, pkt)
			}
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			c.finish(fmt.Errorf("peer connection %s", s))
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fail(fmt.Errorf("whep post: %w", err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxSDPSize+1))
	resp.Body.Close()
	if err != nil {
		return fail(fmt.Errorf("whep read answer: %w", err))
	}
	if resp.StatusCode != http.StatusCreated {
		return fail(&StatusError{Code: resp.StatusCode, Body: string(body)})
	}
	loc, err := resp.Location()
	if err != nil {
		return fail(fmt.Errorf("whep answer without Location: %w", err))
	}
	c.location = loc.String()
	c.links = resp.Header.Values("Link")
	media, err := parseSDP(body)
	if err != nil {
		return fail(err)
	}
	if c.tracks, err = answerTracks(media); err != nil {
		return fail(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSDP, err))
	}
	return c, nil
}

// readReports reads a receiver's RTCP until the connection closes and
// hands on the sender reports of its track's SSRC (a compound packet
// with both tracks' reports reaches both receivers).
func readReports(rx *webrtc.RTPReceiver, ssrc uint32, kind stream.Kind, on func(stream.Kind, time.Time, uint32)) {
	buf := make([]byte, 1500)
	for {
		n, _, err := rx.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pk := range pkts {
			if sr, ok := pk.(*rtcp.SenderReport); ok && sr.SSRC == ssrc {
				on(kind, peer.NTPTime(sr.NTPTime), sr.RTPTime)
			}
		}
	}
}

// Tracks returns what the server sends.
func (c *Client) Tracks() stream.Tracks { return c.tracks }

// LinkHeaders are the Link header values of the server's answer (ICE servers).
func (c *Client) LinkHeaders() []string { return c.links }

// Location is the session URL on the server.
func (c *Client) Location() string { return c.location }

// PeerConnection exposes the underlying connection (for stats in tests and loadgen).
func (c *Client) PeerConnection() *webrtc.PeerConnection { return c.pc }

// Done is closed when the connection fails or is closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err tells why Done was closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) finish(err error) {
	c.doneOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
}

// ReportAudience tells the server how many watch the stream through this
// client's node (AudienceReport, on the events channel; OnEvent must be
// set). Before the channel is open it does nothing.
func (c *Client) ReportAudience(viewers int) error {
	_, err := c.Report(AudienceReport{Viewers: viewers})
	return err
}

// EventsOpen reports whether the events channel is open (Report sends).
func (c *Client) EventsOpen() bool {
	return c.events != nil && c.events.ReadyState() == webrtc.DataChannelStateOpen
}

// Report sends r upstream (ReportAudience) and reports whether it went:
// before the events channel is open it does nothing.
func (c *Client) Report(r AudienceReport) (bool, error) {
	if c.events == nil || c.events.ReadyState() != webrtc.DataChannelStateOpen {
		return false, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if err := c.events.SendText(string(b)); err != nil {
		return false, err
	}
	return true, nil
}

// RequestKeyframe sends a PLI for the video track.
func (c *Client) RequestKeyframe() error {
	c.mu.Lock()
	ssrc := c.videoRx
	c.mu.Unlock()
	if ssrc == 0 {
		return errors.New("no video yet")
	}
	return c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
}

// Close ends the session on the server (DELETE) and locally, and waits
// for the track readers.
func (c *Client) Close(ctx context.Context) error {
	var delErr error
	if c.location != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.location, nil)
		if err == nil {
			resp, err := c.http.Do(req)
			if err != nil {
				delErr = fmt.Errorf("whep delete: %w", err)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	c.shut()
	return delErr
}

func (c *Client) shut() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.pc.Close()
	c.wg.Wait()
	c.finish(errors.New("closed"))
}

// EndpointURL joins a base URL and a stream name into a WHEP endpoint.
func EndpointURL(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("bad base URL %q", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/whep/" + url.PathEscape(name)
	return u.String(), nil
}

// withoutPadding makes pkt a packet without RTP padding (Unmarshal has cut
// the padding off its payload but left the P bit, which a node forwarding
// the packet would send with no padding after it), and reports whether
// media is left: a padding-only packet (a sender's bandwidth probe) has
// none.
func withoutPadding(pkt *rtp.Packet) bool {
	if pkt.Padding {
		pkt.Padding, pkt.Header.PaddingSize, pkt.PaddingSize = false, 0, 0
	}
	return len(pkt.Payload) > 0
}
