package buyermail

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The pickup notice: the code a buyer shows at the stall, by email.

// SendPickup mails to the pickup code (as shown, "ABCD-EFGH") of order.
func (m *Mailer) SendPickup(ctx context.Context, to, code, order string) error {
	return m.deliver(ctx, to, PickupMessage(m.from.String(), to, code, order, time.Now()))
}

// PickupMessage is the email carrying a pickup code: plain text, CRLF line
// ends.
func PickupMessage(from, to, code, order string, now time.Time) []byte {
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", to)
	hdr("Subject", "Your livedrop pickup code: "+code)
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	b.WriteString("Your pickup code is " + code + ".\r\n\r\n")
	b.WriteString(fmt.Sprintf("Show it at the seller's stall to collect order %s.\r\n", order))
	return []byte(b.String())
}
