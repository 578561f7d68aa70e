package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/transfer"
)

// Errors reach people in plain words with the next step: package prefixes
// go, known errors get a code and a hint, and the details that matter
// (which peer was busy) stay.
func TestPlainErrors(t *testing.T) {
	for _, tc := range []struct {
		err                 error
		code, inMsg, inHint string
		notInMsg            string
	}{
		{fmt.Errorf("market: buy: %w", ledger.ErrInsufficientFunds), "insufficient_funds", "insufficient funds", "peerpath wallet", "ledger:"},
		{fmt.Errorf("wallet: %w", ledger.ErrNoLedger), "no_ledger", "no ledger", "--ledger-voters", "ledger:"},
		{BadRequest(errOwnListing), "own_listing", "your own listing", "withdraw", "kind 4"},
		{fmt.Errorf("%w (2 providers busy: too many streams)", transfer.ErrNoProviders), "no_providers", "busy", "try again later", "transfer:"},
		{errors.New("ledger: something new"), "", "something new", "", "ledger:"},
	} {
		code, msg, hint := plainOf(tc.err)
		if code != tc.code || !strings.Contains(msg, tc.inMsg) || !strings.Contains(hint, tc.inHint) || strings.Contains(msg, tc.notInMsg) {
			t.Errorf("%v: code %q msg %q hint %q", tc.err, code, msg, hint)
		}
	}
	if e := badCredits("amount", "1.1234567", errors.New("ledger: credits \"1.1234567\": more than 6 decimal places")); !strings.Contains(e.Error(), "at most 6 decimal places") {
		t.Errorf("credits: %v", e)
	}
	if e := badCID("notacid", nil); !strings.Contains(e.Error(), "peerpath search") || strings.Contains(e.Error(), "encoding") {
		t.Errorf("cid: %v", e)
	}
}
