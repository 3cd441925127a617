package checkouthttp

import (
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// The seller's order routes on the control API: a drop's orders (JSON or
// CSV), refunds of one order or a whole drop, and the live feed
// (orders_live.go).

func (a *ControlAPI) registerOrders(mux *http.ServeMux) {
	mux.Handle("GET /v1/drops/{id}/orders", a.auth(a.listOrders))
	mux.Handle("GET /v1/drops/{id}/orders.csv", a.auth(a.exportOrders))
	mux.Handle("POST /v1/orders/{id}/refund", a.auth(a.refundOrder))
	mux.Handle("POST /v1/drops/{id}/refund", a.auth(a.refundDrop))
	mux.Handle("POST /v1/drops/{id}/orders/live/ticket", a.auth(a.liveTicket))
	mux.HandleFunc("GET /v1/drops/{id}/orders/live", a.live) // its own auth: a ticket or the bearer token
}

// orderQuery reads ?q=, ?before= and ?limit=.
func orderQuery(r *http.Request) (checkout.OrderQuery, error) {
	v := r.URL.Query()
	q := checkout.OrderQuery{Search: v.Get("q")}
	for name, dst := range map[string]*int{"before": &q.Before, "limit": &q.Limit} {
		if s := v.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, fmt.Errorf("%w: %s must be a whole number >= 0", checkout.ErrInvalid, name)
			}
			*dst = n
		}
	}
	return q, nil
}

// wantsCSV reports whether the client's Accept names text/csv.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// listOrders answers GET /v1/drops/{id}/orders: a page, newest first
// (checkout.OrderPage), or with Accept: text/csv every matching order.
func (a *ControlAPI) listOrders(w http.ResponseWriter, r *http.Request) {
	if wantsCSV(r) {
		a.exportOrders(w, r)
		return
	}
	q, err := orderQuery(r)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	p, err := a.ctl.Orders(r.Context(), r.PathValue("id"), q)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// MaxExportOrders bounds one CSV export.
const MaxExportOrders = 200_000

// csvHeader is the first row of an export.
var csvHeader = []string{"id", "created_at", "drop", "sku", "qty", "buyer", "status", "reason", "price_cents", "total_cents", "currency", "edge"}

// exportOrders answers GET /v1/drops/{id}/orders.csv: every order (that
// ?q= matches), newest first, as CSV. The first page is read before the
// answer starts, so a missing drop gets its 404.
func (a *ControlAPI) exportOrders(w http.ResponseWriter, r *http.Request) {
	q, err := orderQuery(r)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	drop := r.PathValue("id")
	q.Limit = checkout.MaxOrderPage
	p, err := a.ctl.Orders(r.Context(), drop, q)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+drop+`-orders.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	n := 0
	for {
		for _, o := range p.Orders {
			_ = cw.Write([]string{o.ID, o.CreatedAt.UTC().Format(time.RFC3339Nano), o.Drop, o.SKU, strconv.Itoa(o.Qty),
				csvCell(o.Buyer), o.Status, o.Reason, strconv.FormatInt(o.PriceCents, 10), strconv.FormatInt(o.TotalCents, 10), o.Currency, csvCell(o.Edge)})
		}
		n += len(p.Orders)
		if p.Next == 0 || n >= MaxExportOrders {
			break
		}
		q.Before = p.Next
		if p, err = a.ctl.Orders(r.Context(), drop, q); err != nil {
			// The status is sent: the cut is said in the last row.
			a.logger.Warn("order export cut short", "drop", drop, "rows", n, "err", err)
			_ = cw.Write([]string{"# export cut short: " + err.Error()})
			break
		}
	}
	cw.Flush()
}

// csvCell keeps a spreadsheet from reading a value as a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// RefundBody is the JSON body of the refund routes.
type RefundBody struct {
	// Restock puts the units back on sale; false keeps them off it.
	Restock bool `json:"restock"`
}

func decodeRefund(r io.Reader) (RefundBody, error) {
	var b RefundBody
	if err := jsonhttp.DecodeStrict(r, MaxBodyBytes, &b); err != nil {
		return RefundBody{}, fmt.Errorf("%w: %w", checkout.ErrInvalid, err)
	}
	return b, nil
}

// refundOrder answers POST /v1/orders/{id}/refund with the order as it is
// now: refunded (it was paid), cancelled (it was pending), or as it was.
func (a *ControlAPI) refundOrder(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := decodeRefund(r.Body)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	o, err := a.ctl.RefundOrder(r.Context(), r.PathValue("id"), b.Restock)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// refundDrop answers POST /v1/drops/{id}/refund with what it did
// (checkout.DropRefund).
func (a *ControlAPI) refundDrop(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := decodeRefund(r.Body)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	res, err := a.ctl.RefundDrop(r.Context(), r.PathValue("id"), b.Restock)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
