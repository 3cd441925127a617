package app

import (
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/formats"
	"github.com/livedrop/livedrop/checkout/giveaway"
)

// reportFormats gives the origin's event report its "Sale formats"
// section, read from the stores the origin runs the formats on: its lots
// and giveaways, and the wallet and pickup stores of its checkout.
func (s *controlCheckout) reportFormats(lots auction.Store, gives giveaway.Store) {
	p := s.formats
	p.Lots, p.Giveaways = lots, gives
	s.api.SetFormats(formats.New(p))
}
