package buyerhttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// MembersAPI serves the seller's member list on the origin's control side,
// behind the control bearer token.
type MembersAPI struct {
	members *buyer.Members
	token   []byte
	guard   *guard.Guard
	log     *slog.Logger
}

// MinTokenLen is the shortest control token the members API accepts
// (checkouthttp.MinTokenLen).
const MinTokenLen = 16

// NewMembersAPI adapts members to HTTP; every request must carry token as
// its bearer token, and wrong ones cost the client's budget in g (the
// process's guard; nil: one of its own).
func NewMembersAPI(members *buyer.Members, token string, logger *slog.Logger, g *guard.Guard) (*MembersAPI, error) {
	if len(token) < MinTokenLen {
		return nil, fmt.Errorf("control token: must be set, at least %d characters", MinTokenLen)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g, err := guard.OrDefault(g, logger)
	if err != nil {
		return nil, err
	}
	return &MembersAPI{members: members, token: []byte(token), guard: g, log: logger.With("component", "buyer-members-http")}, nil
}

// Register adds PUT /v1/members/{email}, DELETE /v1/members/{email} and
// POST /v1/members:import.
func (a *MembersAPI) Register(mux *http.ServeMux) {
	mux.Handle("PUT /v1/members/{email}", jsonhttp.GuardedBearer(a.token, a.guard, a.set(true)))
	mux.Handle("DELETE /v1/members/{email}", jsonhttp.GuardedBearer(a.token, a.guard, a.set(false)))
	mux.Handle("POST /v1/members:import", jsonhttp.GuardedBearer(a.token, a.guard, a.importList))
}

// MemberAnswer is an email's member flag after PUT or DELETE.
type MemberAnswer struct {
	Email  string `json:"email"`
	Member bool   `json:"member"`
}

func (a *MembersAPI) set(member bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		email, err := buyer.NormalizeEmail(r.PathValue("email"))
		if err != nil {
			WriteRefusal(w, a.log, &buyer.Refusal{Class: buyer.ErrInvalid, Reason: "email", Msg: err.Error()})
			return
		}
		if err := a.members.Set(r.Context(), email, member); err != nil {
			WriteRefusal(w, a.log, err)
			return
		}
		jsonhttp.Write(w, http.StatusOK, MemberAnswer{Email: email, Member: member})
	}
}

// importList answers POST /v1/members:import: a text/csv body of at most
// buyer.MaxImportBytes; bad lines are listed in the answer, not fatal.
func (a *MembersAPI) importList(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, buyer.MaxImportBytes)
	imp, err := a.members.Import(r.Context(), r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		jsonhttp.Write(w, http.StatusRequestEntityTooLarge, ErrorBody{Code: "too_large",
			Error: fmt.Sprintf("member list too large: at most %d bytes (split it)", buyer.MaxImportBytes)})
		return
	}
	if err != nil {
		WriteRefusal(w, a.log, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, imp)
}
