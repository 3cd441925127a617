package dropphoto

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DirStore keeps photos as files in one directory (the demo's embedded
// store: its origin and edge share the directory). Drop ids are safe file
// names (checkout.ValidID); others are refused.
type DirStore struct{ dir string }

var _ Store = (*DirStore)(nil)

// NewDirStore keeps photos under dir (made on the first Put).
func NewDirStore(dir string) *DirStore { return &DirStore{dir: dir} }

func (s *DirStore) path(drop string) (string, error) {
	if !safeName(drop) {
		return "", fmt.Errorf("%w: drop id %q", ErrInvalid, drop)
	}
	return filepath.Join(s.dir, drop+".photo"), nil
}

// Put implements Store: written to a temporary file, then renamed, so a
// reader sees the old photo or the new one.
func (s *DirStore) Put(_ context.Context, drop string, p Photo) error {
	path, err := s.path(drop)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("photo dir: %w", err)
	}
	f, err := os.CreateTemp(s.dir, drop+".*.tmp")
	if err != nil {
		return fmt.Errorf("photo: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(p.Data); err != nil {
		f.Close()
		return fmt.Errorf("photo: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("photo: %w", err)
	}
	return os.Rename(f.Name(), path)
}

// Get implements Store.
func (s *DirStore) Get(_ context.Context, drop string) (Photo, error) {
	path, err := s.path(drop)
	if err != nil {
		return Photo{}, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Photo{}, ErrNotFound
	}
	if err != nil {
		return Photo{}, fmt.Errorf("photo: %w", err)
	}
	return New(data)
}

// Delete implements Store.
func (s *DirStore) Delete(_ context.Context, drop string) error {
	path, err := s.path(drop)
	if err != nil {
		return err
	}
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete photo: %w", err)
	}
	return nil
}

func safeName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
