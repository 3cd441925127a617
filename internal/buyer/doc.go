// Package buyer knows who buys: it signs in buyers (a one-time code sent
// to their email, or a guest bound to their device), issues the signed
// session every edge verifies without a round trip, and keeps each email
// buyer's record with the consent they gave. It knows no protocol: its
// HTTP adapter is buyerhttp, its SMTP mailer buyermail.
package buyer
