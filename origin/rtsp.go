package origin

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/media"
)

// rtspHandler adapts gortsplib's server callbacks to the origin's paths.
type rtspHandler struct {
	o     *Origin
	log   *slog.Logger
	guard *guard.Guard
	basic bool // Basic auth offered besides Digest
}

var (
	_ gortsplib.ServerHandlerOnAnnounce     = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnRecord       = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnDescribe     = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnSetup        = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnPlay         = (*rtspHandler)(nil)
)

func streamName(p string) (string, bool) {
	name := strings.Trim(p, "/")
	return name, media.ValidName(name)
}

// authorized checks a request's credentials against user and pass, and
// the failure budget first: a locked-out address or account is refused
// without its credentials being looked at. surface is rtsp_publish or
// rtsp_read; the account is the surface's user. Passwords are never logged.
func (h *rtspHandler) authorized(conn *gortsplib.ServerConn, req *base.Request, surface, user, pass string) bool {
	// A first request without credentials is the normal challenge round;
	// only a wrong answer is a failure worth counting.
	authz, creds := req.Header["Authorization"]
	reason := "wrong_credentials"
	if len(authz) == 1 && strings.HasPrefix(authz[0], "Basic ") && !h.basic {
		reason = "method_not_allowed"
	}
	ok, _ := h.guard.Try(guard.Attempt{Surface: surface, IP: guard.AddrKey(conn.NetConn().RemoteAddr()),
		Account: surface + ":" + user, Presented: creds, Reason: reason}, func() bool {
		ok := conn.VerifyCredentials(req, user, pass)
		if !ok && creds && surface == surfacePublish {
			h.o.metrics.AuthFailures.Inc()
		}
		return ok
	})
	return ok
}

const (
	surfacePublish = "rtsp_publish"
	surfaceRead    = "rtsp_read"
)

// OnAnnounce authenticates a publisher and checks what it sends.
func (h *rtspHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	name, ok := streamName(ctx.Path)
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("invalid stream name: use 1-64 letters, digits, '-' or '_'")
	}
	// The stream's own key when it has one, else publish_password; a
	// revoked stream is published by no one.
	pass, open := h.o.keys.password(name, h.o.cfg.PublishPassword)
	if !open || !h.authorized(ctx.Conn, ctx.Request, surfacePublish, h.o.cfg.PublishUser, pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	if h.o.isPulled(name) {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("stream is pulled from a configured camera and cannot be published")
	}
	pl, err := h.o.planSource(ctx.Description, name, h.log)
	if err != nil {
		h.o.metrics.IngestErrors.WithLabelValues(name, "unsupported_codec").Inc()
		h.log.Warn("publish refused", "stream", name, "err", err)
		return &base.Response{StatusCode: base.StatusUnsupportedMediaType}, err
	}
	ctx.Session.SetUserData(&publisher{name: name, plan: pl})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// publisher is what an RTSP publishing session carries.
type publisher struct {
	name string
	plan *plan
	path *path
}

// OnRecord starts forwarding a publisher's packets.
func (h *rtspHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	pub, ok := ctx.Session.UserData().(*publisher)
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("RECORD without ANNOUNCE")
	}
	p, err := h.o.startSource(pub.name, ctx.Session, pub.plan)
	if err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, err
	}
	pub.path = p
	markHandshakeDone(ctx.Conn.NetConn())
	sess := ctx.Session
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		ntp, _ := sess.PacketNTP(medi, pkt) // the publisher's sender reports; zero before one
		p.write(sess, medi, pkt, ntp)
	})
	h.log.Info("publisher started", "stream", pub.name, "remote", ctx.Conn.NetConn().RemoteAddr().String(),
		"audio", pub.plan.tracks.Audio != nil)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose ends a publisher's turn.
func (h *rtspHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	pub, ok := ctx.Session.UserData().(*publisher)
	if !ok || pub.path == nil {
		return
	}
	h.o.stopSource(pub.path, ctx.Session)
	h.log.Info("publisher left", "stream", pub.name, "reason", errString(ctx.Error))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (h *rtspHandler) readStream(conn *gortsplib.ServerConn, req *base.Request, p string) (*base.Response, *gortsplib.ServerStream, error) {
	name, ok := streamName(p)
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, errors.New("invalid stream name")
	}
	if !h.o.cfg.RTSPReadOpen && !h.authorized(conn, req, surfaceRead, h.o.cfg.ReadUser, h.o.cfg.ReadPassword) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	rs := h.o.rtspStream(name)
	if rs == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, rs, nil
}

// OnDescribe serves a stream to an RTSP reader.
func (h *rtspHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.readStream(ctx.Conn, ctx.Request, ctx.Path)
}

// OnSetup sets up a reader's track, or a publisher's.
func (h *rtspHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	return h.readStream(ctx.Conn, ctx.Request, ctx.Path)
}

// OnPlay lets a set-up reader play.
func (h *rtspHandler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	markHandshakeDone(ctx.Conn.NetConn())
	return &base.Response{StatusCode: base.StatusOK}, nil
}
