package buyer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of a member import.
const (
	// MaxImportBytes bounds an import body (the HTTP adapter enforces it).
	MaxImportBytes = 4 << 20
	// MaxBadLinesListed bounds the bad lines an import lists (all are counted).
	MaxBadLinesListed = 100
)

// BadLine is a line of an import that is not an email.
type BadLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Import is what a member import did: the emails flagged (each once), the lines that
// were not emails (counted, the first MaxBadLinesListed listed).
type Import struct {
	Added   int       `json:"added"`
	Invalid int       `json:"invalid"`
	Bad     []BadLine `json:"bad_lines,omitempty"`
}

// ParseMembers reads a member list: one email per line, or CSV with a
// header naming an `email` column. Blank lines are skipped; a line that
// is not an email is listed, not fatal. It returns the normalised emails.
func ParseMembers(r io.Reader) ([]string, Import, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.TrimLeadingSpace = true
	var (
		emails []string
		imp    Import
		col    = -1 // the email column; -1 until the first line is read
		seen   = map[string]bool{}
	)
	bad := func(line int, reason string) {
		imp.Invalid++
		if len(imp.Bad) < MaxBadLinesListed {
			imp.Bad = append(imp.Bad, BadLine{Line: line, Reason: reason})
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			bad(pe.Line, "not CSV: "+pe.Err.Error())
			continue
		}
		if err != nil {
			return nil, imp, err
		}
		if col < 0 {
			col = 0
			found := false
			for i, f := range rec {
				if strings.EqualFold(strings.TrimSpace(f), "email") {
					col, found = i, true
					break
				}
			}
			if found {
				continue // the header
			}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if col >= len(rec) {
			bad(line, fmt.Sprintf("no column %d (email)", col+1))
			continue
		}
		e, err := NormalizeEmail(rec[col])
		if err != nil {
			bad(line, err.Error())
			continue
		}
		if !seen[e] {
			seen[e] = true
			emails = append(emails, e)
		}
	}
	return emails, imp, nil
}

// Members is the seller's member list: the flag per email in the store,
// set one by one or by an import. It is safe for concurrent use.
type Members struct{ store Store }

// NewMembers keeps the member list in store (the one sign-in reads).
func NewMembers(store Store) *Members { return &Members{store: store} }

// Set sets or clears the member flag of email; the buyer's sessions say
// so from their next sign-in.
func (m *Members) Set(ctx context.Context, email string, member bool) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return refuse(ErrInvalid, "email", err.Error())
	}
	return m.store.SetMember(ctx, email, member)
}

// Import flags every email of a member list (see ParseMembers) as a
// member; bad lines are reported in the result and change nothing.
func (m *Members) Import(ctx context.Context, r io.Reader) (Import, error) {
	emails, imp, err := ParseMembers(r)
	if err != nil {
		return imp, err
	}
	for _, e := range emails {
		if err := m.store.SetMember(ctx, e, true); err != nil {
			return imp, err
		}
		imp.Added++
	}
	return imp, nil
}

// SetMember is Members.Set on this sign-in's store.
func (s *SignIn) SetMember(ctx context.Context, email string, member bool) error {
	return NewMembers(s.store).Set(ctx, email, member)
}

// ImportMembers is Members.Import on this sign-in's store.
func (s *SignIn) ImportMembers(ctx context.Context, r io.Reader) (Import, error) {
	return NewMembers(s.store).Import(ctx, r)
}
