package app

import (
	"errors"
	"net"
)

// undoStack is what a command has started so far, to be stopped again,
// newest first, when a later part fails: a start is all or nothing.
type undoStack []func() error

func (u *undoStack) push(f func() error) { *u = append(*u, f) }

// run stops everything pushed, newest first, and empties the stack.
func (u *undoStack) run() error {
	var errs []error
	for i := len(*u) - 1; i >= 0; i-- {
		errs = append(errs, (*u)[i]())
	}
	*u = nil
	return errors.Join(errs...)
}

// ignoreClosed treats closing what is closed already as done.
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
