package checkouthttp

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/kpi"
	"github.com/skip2/go-qrcode"
)

// A channel's QR sign: the watch link of a drop's stream with ?ch= set, as
// a QR code and as the facts the printable sign shows. Both are public: the
// link is what the sign hangs up for anyone to scan.

// Sign is the body of GET /v1/drops/{id}/sign?ch=.
type Sign struct {
	Drop    string    `json:"drop"`
	Stream  string    `json:"stream"`
	Channel string    `json:"channel"`
	URL     string    `json:"url"`
	Product string    `json:"product,omitempty"` // the drop's first SKU's name
	OpensAt time.Time `json:"opens_at,omitzero"`
}

// sign reads the drop and the channel of a sign request; a channel that is
// not a valid token is refused (a sign must say what it counts).
func (a *ControlAPI) sign(r *http.Request) (Sign, error) {
	ch := r.URL.Query().Get("ch")
	if ch == "" || kpi.Channel(ch) != ch {
		return Sign{}, fmt.Errorf("%w: ch must be 1-%d of [a-z0-9_-]", checkout.ErrInvalid, kpi.MaxChannelLen)
	}
	d, err := a.ctl.Drop(r.Context(), r.PathValue("id"))
	if err != nil {
		return Sign{}, err
	}
	s := Sign{Drop: d.ID, Stream: d.Stream, Channel: ch, OpensAt: d.OpensAt,
		URL: a.rsvpBase + "/watch/" + url.PathEscape(d.Stream) + "?ch=" + url.QueryEscape(ch)}
	if len(d.SKUs) > 0 {
		s.Product = d.SKUs[0].Name
	}
	return s, nil
}

// signInfo answers GET /v1/drops/{id}/sign?ch=: the sign's facts.
func (a *ControlAPI) signInfo(w http.ResponseWriter, r *http.Request) {
	s, err := a.sign(r)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// signQR answers GET /v1/drops/{id}/sign.png?ch=: the QR code of the
// channel's watch link.
func (a *ControlAPI) signQR(w http.ResponseWriter, r *http.Request) {
	s, err := a.sign(r)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	png, err := qrcode.Encode(s.URL, qrcode.Medium, 768)
	if err != nil {
		writeError(w, a.logger, fmt.Errorf("qr code: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(png)
}
