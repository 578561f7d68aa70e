package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/peerpath/peerpath/api"
)

// `ledger status` shows its leader and voters by name, like every table.
func TestLedgerStatusShowsNames(t *testing.T) {
	const ana = "12D3KooWFHRzaes5cmdVjE4boRDnuhuKJoAbtuXRpKUTYgKLxbdy"
	const eve = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	g := &globals{}
	g.names.m = map[string]string{ana: "Ana", eve: "~Eve"}
	var b bytes.Buffer
	if err := printLedgerStatus(&b, api.LedgerStatus{Leader: ana, Voters: []string{ana, eve}, CommitIndex: 7}, g.name); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, ana) || strings.Contains(out, eve) ||
		!strings.Contains(out, "leader        Ana\n") || !strings.Contains(out, "voters        Ana, ~Eve\n") || !strings.Contains(out, "commit index  7") {
		t.Fatalf("ledger status:\n%s", out)
	}
}

// `wallet history` shows the operator fee the API returns, and "-" where
// there is none.
func TestHistoryShowsFee(t *testing.T) {
	var b bytes.Buffer
	ts := []api.Transfer{
		{Kind: "transfer", From: "a", To: "b", Amount: json.Number("4"), Fee: json.Number("0.04"), Memo: "rent"},
		{Kind: "receipt", From: "c", To: "b", Amount: json.Number("10")},
	}
	if err := printHistory(&b, ts, func(s string) string { return s }); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "FEE") {
		t.Fatalf("history:\n%s", b.String())
	}
	if f := strings.Fields(lines[1]); len(f) < 8 || f[6] != "0.04" || f[7] != "rent" {
		t.Fatalf("row with a fee: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 7 || f[6] != "-" {
		t.Fatalf("row without a fee: %q", lines[2])
	}
}
