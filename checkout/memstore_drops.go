package checkout

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// UpdateDrop implements DropEditStore.
func (s *MemStore) UpdateDrop(ctx context.Context, d Drop) error {
	if err := d.Validate(); err != nil {
		return err
	}
	d.SKUs = slices.Clone(d.SKUs)
	_, err := s.do(ctx, memOp{Kind: "edit", Drop: &d})
	return err
}

// applyEdit replaces a created, unused drop's definition (op "edit").
func (s *MemStore) applyEdit(op memOp) memResult {
	d := *op.Drop
	md, ok := s.drops[d.ID]
	if !ok {
		return memResult{err: fmt.Errorf("drop %s: %w", d.ID, ErrNotFound)}
	}
	if md.d.State != StateCreated {
		return memResult{err: fmt.Errorf("drop %s is %s: %s: %w", d.ID, md.d.State, editRefusal, ErrConflict)}
	}
	used := len(md.orders) > 0 || len(md.leases) > 0
	for n, sk := range md.skus {
		used = used || sk.sold+sk.leased+sk.orders+sk.cancelled+sk.refunded > 0 || md.reservedOf(n) > 0
	}
	if used {
		return memResult{err: fmt.Errorf("drop %s has units reserved, leased or sold: %s: %w", d.ID, editRefusal, ErrConflict)}
	}
	d.State, d.OpenedAt = md.d.State, time.Time{} // created: never opened
	md.d = d
	md.skus = map[string]*memSKU{}
	for _, k := range d.SKUs {
		md.skus[k.SKU] = &memSKU{sku: k, stock: k.Stock, free: k.Stock}
	}
	return memResult{changed: true}
}

// Dir is the directory of the store's journal: what is kept beside the
// embedded store (the drops' photos) goes there.
func (s *MemStore) Dir() string { return filepath.Dir(s.j.path) }
