package buyer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

func TestParseMembers(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		bad      []int
	}{
		{"one per line", "ann@example.com\n\nBob@Example.com\nnot-an-email\nann@example.com\n", []string{"ann@example.com", "bob@example.com"}, []int{4}},
		{"email column", "name,email\nAnn,ann@example.com\n\"Bob, B\",bob@example.com\nCat\nDan,dan@\n", []string{"ann@example.com", "bob@example.com"}, []int{4, 5}},
		{"header only", "Email\n", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, imp, err := buyer.ParseMembers(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("emails %q, want %q", got, tc.want)
			}
			if imp.Invalid != len(tc.bad) || len(imp.Bad) != len(tc.bad) {
				t.Fatalf("bad lines %+v, want lines %v", imp, tc.bad)
			}
			for i, l := range tc.bad {
				if imp.Bad[i].Line != l || imp.Bad[i].Reason == "" {
					t.Fatalf("bad line %d: %+v, want line %d with a reason", i, imp.Bad[i], l)
				}
			}
		})
	}
	var many strings.Builder
	for range buyer.MaxBadLinesListed + 50 {
		many.WriteString("nope\n")
	}
	_, imp, err := buyer.ParseMembers(strings.NewReader(many.String()))
	if err != nil || imp.Invalid != buyer.MaxBadLinesListed+50 || len(imp.Bad) != buyer.MaxBadLinesListed {
		t.Fatalf("many bad lines: %d counted, %d listed, %v", imp.Invalid, len(imp.Bad), err)
	}
}

// TestMemberFlagInSession: a member flagged (by import) before signing in
// gets a member session; a flag cleared shows on the next sign-in; guests
// are never members. Both stores.
func TestMemberFlagInSession(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	ctx := context.Background()
	for name, s := range consentStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEdge(t, s, mail, nil, nil)
			email := "m-" + name + "@example.com"
			imp, err := e.ImportMembers(ctx, strings.NewReader("email\n"+strings.ToUpper(email)+"\nbad\n"))
			if err != nil || imp.Added != 1 || imp.Invalid != 1 {
				t.Fatalf("import: %+v %v", imp, err)
			}
			is, err := verify(e, email, send(t, e, mail, email))
			if err != nil || !is.Session.Member || !is.Record.Member {
				t.Fatalf("member sign-in: %+v %v", is, err)
			}
			got, err := e.Sessions().Verify(is.Token)
			if err != nil || !got.Member {
				t.Fatalf("member session verifies to %+v %v", got, err)
			}
			if err := e.SetMember(ctx, email, false); err != nil {
				t.Fatal(err)
			}
			if is, err := verify(e, email, send(t, e, mail, email)); err != nil || is.Session.Member {
				t.Fatalf("sign-in after the flag is cleared: %+v %v", is.Session, err)
			}
			if err := e.SetMember(ctx, "nope", true); err == nil {
				t.Fatal("bad email flagged")
			}
			if g, err := e.Guest(dev, ip); err != nil || g.Session.Member {
				t.Fatalf("guest: %+v %v", g.Session, err)
			}
		})
	}
}

// FuzzParseMembers: any body parses without panicking; every email it
// returns is normalised and listed once; bad lines are counted at least
// as often as listed.
func FuzzParseMembers(f *testing.F) {
	f.Add("ann@example.com\nbob@example.com\n")
	f.Add("name,email\n\"A, B\",a@b.co\n\"unterminated\n")
	f.Add("email\n,,,\n\x00\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, imp, err := buyer.ParseMembers(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range got {
			if n, err := buyer.NormalizeEmail(e); err != nil || n != e || seen[e] {
				t.Fatalf("email %q: normalised %q %v, repeated %v", e, n, err, seen[e])
			}
			seen[e] = true
		}
		if imp.Invalid < len(imp.Bad) || len(imp.Bad) > buyer.MaxBadLinesListed {
			t.Fatalf("bad lines %d counted, %d listed", imp.Invalid, len(imp.Bad))
		}
	})
}
