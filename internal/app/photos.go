package app

import (
	"path/filepath"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/dropphoto"
)

// photoStore is where drop photos live, beside the checkout store: Redis
// keys in each drop's hash tag, or files in a photos directory next to the
// embedded store's journal (the demo's origin and edge share it).
func photoStore(store checkout.Store) dropphoto.Store {
	switch s := store.(type) {
	case *checkout.RedisStore:
		return dropphoto.NewRedisStore(s.Client())
	case *checkout.MemStore:
		return dropphoto.NewDirStore(filepath.Join(s.Dir(), "photos"))
	}
	return nil
}
