// Package wallet owns buyers' prepaid credits: top-ups through the payment
// provider, spends that pay orders from the balance, refunds back to it, and
// the double-entry, append-only ledger every movement is written to.
//
// Every movement debits one account and credits another by the same amount:
// a top-up moves money from provider:cash to buyer:ID, a spend from buyer:ID
// to seller:sales, a refund back from seller:sales to buyer:ID. An account's
// balance is its credits minus its debits, so the ledger always sums to the
// balances and all accounts together sum to zero. A buyer account never goes
// below zero: the store checks and moves in one atomic step, centrally (one
// Redis script per movement), so spends through any number of edges at once
// cannot overdraw it. Movements are idempotent by key: a spend's key is its
// order id, so a retried order never charges twice.
package wallet
