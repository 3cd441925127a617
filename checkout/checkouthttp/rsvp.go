package checkouthttp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// RSVPBody is the JSON body of POST /v1/drops/{id}/rsvps: count units of
// sku reserved until deadline (RFC 3339).
type RSVPBody struct {
	SKU      string    `json:"sku"`
	Count    int       `json:"count"`
	Deadline time.Time `json:"deadline"`
}

// RSVPLink is one issued token with the viewer link that carries it.
type RSVPLink struct {
	checkout.RSVPToken
	URL string `json:"url"`
	// QR is the control route that draws the link as a QR code (PNG).
	QR string `json:"qr"`
}

// RSVPBatch is the answer to POST /v1/drops/{id}/rsvps.
type RSVPBatch struct {
	Drop     string     `json:"drop"`
	SKU      string     `json:"sku"`
	Batch    string     `json:"batch"`
	Deadline time.Time  `json:"deadline"`
	Tokens   []RSVPLink `json:"tokens"`
}

// SetRSVPLinkBase sets the scheme and host of the viewer links RSVP
// tokens are handed out in (e.g. https://shop.example); empty: links are
// relative (/watch/{stream}?rsvp=TOKEN).
func (a *ControlAPI) SetRSVPLinkBase(base string) { a.rsvpBase = strings.TrimRight(base, "/") }

// ValidRSVPLinkBase checks a link base: empty, or an http(s) URL with a host.
func ValidRSVPLinkBase(base string) error {
	if base == "" {
		return nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be empty or an http:// or https:// URL with a host")
	}
	return nil
}

func (a *ControlAPI) registerRSVP(mux *http.ServeMux) {
	mux.Handle("POST /v1/drops/{id}/rsvps", a.auth(a.issueRSVPs))
	mux.Handle("GET /v1/drops/{id}/rsvps/{token}/qr.png", a.auth(a.rsvpQR))
	mux.Handle("GET /v1/drops/{id}/rsvps", a.auth(a.listRSVPs))
	mux.Handle("DELETE /v1/drops/{id}/rsvps/{token}", a.auth(a.cancelRSVP))
}

// RSVPListToken is one token of a listed batch, with its link.
type RSVPListToken struct {
	RSVPLink
	State string `json:"state"`           // open, used, cancelled or returned
	Order string `json:"order,omitempty"` // the order that used it
}

// RSVPListBatch is one batch of GET /v1/drops/{id}/rsvps.
type RSVPListBatch struct {
	SKU      string          `json:"sku"`
	Batch    string          `json:"batch"`
	Deadline time.Time       `json:"deadline"`
	Units    int             `json:"units"`
	Left     int             `json:"left"`
	Tokens   []RSVPListToken `json:"tokens"`
}

// RSVPList is the answer to GET /v1/drops/{id}/rsvps.
type RSVPList struct {
	Drop    string          `json:"drop"`
	Batches []RSVPListBatch `json:"batches"`
}

// RSVPCancelled is the answer to DELETE /v1/drops/{id}/rsvps/{token}.
type RSVPCancelled struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// Already is set when an earlier request had cancelled it.
	Already bool `json:"already,omitempty"`
}

// listRSVPs answers GET /v1/drops/{id}/rsvps: every batch of the drop with
// each token, its link and what became of it.
func (a *ControlAPI) listRSVPs(w http.ResponseWriter, r *http.Request) {
	bs, err := a.ctl.RSVPBatches(r.Context(), r.PathValue("id"))
	if err != nil {
		a.refuse(w, err)
		return
	}
	out := RSVPList{Drop: r.PathValue("id"), Batches: make([]RSVPListBatch, len(bs))}
	for i, b := range bs {
		lb := RSVPListBatch{SKU: b.SKU, Batch: b.Batch, Deadline: b.Deadline, Units: b.Units, Left: b.Left, Tokens: make([]RSVPListToken, len(b.Tokens))}
		for j, t := range b.Tokens {
			lb.Tokens[j] = RSVPListToken{RSVPLink: a.linkOf(b.Drop, b.Stream, t.RSVPToken), State: t.State, Order: t.Order}
		}
		out.Batches[i] = lb
	}
	writeJSON(w, http.StatusOK, out)
}

// cancelRSVP answers DELETE /v1/drops/{id}/rsvps/{token} ({token}: the
// token or its id): 200 once cancelled (its unit is back in the open
// stock), 404 for no such token, 409 rsvp_used or rsvp_expired.
func (a *ControlAPI) cancelRSVP(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	changed, err := a.ctl.CancelRSVP(r.Context(), r.PathValue("id"), tok)
	if err != nil {
		a.refuse(w, err)
		return
	}
	id := tok
	if p, err := a.ctl.ParseRSVP(tok); err == nil {
		id = p.ID()
	}
	writeJSON(w, http.StatusOK, RSVPCancelled{ID: id, State: checkout.RSVPCancelled, Already: !changed})
}

// refuse answers a refusal with its status and code, or logs an internal
// error.
func (a *ControlAPI) refuse(w http.ResponseWriter, err error) {
	if code := statusOf(err); code != http.StatusInternalServerError {
		writeJSON(w, code, OrderError{Error: err.Error(), Code: checkoutCode(err)})
		return
	}
	writeError(w, a.logger, err)
}

// linkOf is a token with its viewer link and QR route.
func (a *ControlAPI) linkOf(drop, stream string, t checkout.RSVPToken) RSVPLink {
	return RSVPLink{RSVPToken: t, URL: a.rsvpLink(stream, t.Token), QR: "/v1/drops/" + drop + "/rsvps/" + t.Token + "/qr.png"}
}

// rsvpLink is the viewer link that carries tok.
func (a *ControlAPI) rsvpLink(stream, tok string) string {
	return a.rsvpBase + "/watch/" + url.PathEscape(stream) + "?rsvp=" + url.QueryEscape(tok)
}

// rsvpQR answers GET /v1/drops/{id}/rsvps/{token}/qr.png: a QR code of
// the token's viewer link, for a token of the drop signed by this node.
func (a *ControlAPI) rsvpQR(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	stream, err := a.ctl.RSVPStream(r.Context(), r.PathValue("id"), tok)
	if err != nil {
		a.refuse(w, err)
		return
	}
	png, err := qrcode.Encode(a.rsvpLink(stream, tok), qrcode.Medium, 512)
	if err != nil {
		writeError(w, a.logger, fmt.Errorf("qr code: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(png)
}

// issueRSVPs answers POST /v1/drops/{id}/rsvps: 201 with the tokens and
// their links, 409 (code not_enough_free) when fewer units are free.
func (a *ControlAPI) issueRSVPs(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	var b RSVPBody
	if err := jsonhttp.DecodeStrict(r.Body, MaxBodyBytes, &b); err != nil {
		writeError(w, a.logger, fmt.Errorf("%w: %w", checkout.ErrInvalid, err))
		return
	}
	batch, err := a.ctl.IssueRSVPs(r.Context(), r.PathValue("id"), b.SKU, b.Count, b.Deadline)
	if err != nil {
		a.refuse(w, err)
		return
	}
	out := RSVPBatch{Drop: batch.Drop, SKU: batch.SKU, Batch: batch.Batch, Deadline: batch.Deadline, Tokens: make([]RSVPLink, len(batch.Tokens))}
	for i, t := range batch.Tokens {
		out.Tokens[i] = a.linkOf(batch.Drop, batch.Stream, t)
	}
	writeJSON(w, http.StatusCreated, out)
}

// rsvpCode names the RSVP refusals for clients ("" for other errors).
func rsvpCode(err error) string {
	switch {
	case errors.Is(err, checkout.ErrRSVPInvalid):
		return "rsvp_invalid"
	case errors.Is(err, checkout.ErrRSVPExpired):
		return "rsvp_expired"
	case errors.Is(err, checkout.ErrRSVPUsed):
		return "rsvp_used"
	case errors.Is(err, checkout.ErrRSVPCancelled):
		return "rsvp_cancelled"
	case errors.Is(err, checkout.ErrNotEnoughFree):
		return "not_enough_free"
	}
	return ""
}
