package loadgen

import (
	"testing"
	"time"
)

func TestSummaryCountsContradictions(t *testing.T) {
	ok := answer{code: 201, id: "d.a", qty: 1, took: time.Millisecond}
	p := Params{Buyers: 5, BuyerPrefix: "b"}
	buyers := []buyer{
		{first: ok, final: ok, answers: []answer{ok, ok}},                                    // same order twice: fine
		{first: answer{code: 409}, final: answer{code: 409}, answers: []answer{{code: 409}}}, // sold out
		{first: ok, final: ok, answers: []answer{ok, {code: 409}}},                           // order, then sold out
		{first: ok, final: ok, answers: []answer{ok, {code: 201, id: "d.b", qty: 1}}},        // two orders
		{first: answer{code: 503}, final: ok, answers: []answer{{code: 503}, ok}},            // held, then the order
	}
	s := summarize(p, buyers, time.Second)
	if s.Contradictions != 2 {
		t.Fatalf("contradictions %d, want 2 (order then sold out; two orders): %v", s.Contradictions, s.ContradictionSamples)
	}
	if s.Final["order"] != 4 || s.Final["sold_out"] != 1 || s.Held != 1 || s.SoldOut != 1 {
		t.Fatalf("final %v held %d sold out %d", s.Final, s.Held, s.SoldOut)
	}
	if s.FirstAnswerMs["201"].N != 3 {
		t.Fatalf("first answers by code: %+v", s.FirstAnswerMs)
	}
}
