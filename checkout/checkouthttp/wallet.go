package checkouthttp

import (
	"net/http"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer"
)

// Wallet orders: only a signed-in (email) buyer pays from a wallet, and an
// order whose payment the wallet refuses up front says why, with the
// balance.

// walletSession answers 403 email_required to a guest's wallet order,
// counted by the edge's wallet.
func (a *EdgeAPI) walletSession(w http.ResponseWriter, sess buyer.Session) bool {
	if sess.Kind == buyer.KindEmail {
		return true
	}
	a.edge.RefusedGuest()
	writeJSON(w, http.StatusForbidden, OrderError{Code: WalletEmailRequired, Error: WalletGuestMessage})
	return false
}

// WalletEmailRequired is the code of a guest's wallet request refused.
const WalletEmailRequired = "email_required"

// WalletGuestMessage is the words of that refusal.
const WalletGuestMessage = "The wallet is for signed-in buyers: sign in with your email to top up or pay from the wallet (a guest has no wallet)."

// paymentRefusal is the status and body of a payment refused up front:
// 402 Payment Required, the refusal's code and the balance.
func paymentRefusal(pr *checkout.PaymentRefusal) (int, OrderError) {
	bal := pr.BalanceCents
	return http.StatusPaymentRequired, OrderError{Error: pr.Error(), Code: pr.Code, BalanceCents: &bal, Currency: pr.Currency}
}
