// Package checkouthttp is the HTTP adapter of package checkout: it decodes
// and bounds request bodies, checks the control token, and maps checkout's
// error classes to status codes in one place (statusOf). It holds no rules.
package checkouthttp
