package checkout

import (
	"context"
	"reflect"
)

// reloadDefinition reads again the definition of a drop the edge last saw
// created, since the seller may edit it until it opens (control_drops.go):
// it is read after the view, so once a view shows it open the definition
// read next is final. It says whether it changed; SKUs the edit removed
// are forgotten (nothing was sold or leased of them).
func (e *Edge) reloadDefinition(ctx context.Context, ed *edgeDrop) bool {
	d, err := e.store.Drop(ctx, ed.id)
	if err != nil {
		return false
	}
	ed.mu.Lock()
	cmp := d
	cmp.State = ed.d.State
	same := reflect.DeepEqual(ed.d, cmp)
	if !same {
		for n := range ed.skus {
			if _, ok := d.SKU(n); !ok {
				delete(ed.skus, n)
			}
		}
	}
	ed.mu.Unlock()
	if same {
		return false
	}
	st := ed.currentState()
	ed.load(d)
	ed.setState(st)
	return true
}

func (ed *edgeDrop) currentState() string {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.state
}
