package ledger

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func TestParseFormatCredits(t *testing.T) {
	good := []struct {
		in    string
		micro int64
		out   string
	}{
		{"1.5", 1_500_000, "1.5"},
		{"0", 0, "0"},
		{"2", 2_000_000, "2"},
		{"0.000001", 1, "0.000001"},
		{".5", 500_000, "0.5"},
		{"-3.25", -3_250_000, "-3.25"},
		{"+7.", 7_000_000, "7"},
		{" 10.100000 ", 10_100_000, "10.1"},
		{"9223372036854.775807", math.MaxInt64, "9223372036854.775807"},
	}
	for _, c := range good {
		got, err := ParseCredits(c.in)
		if err != nil || got != c.micro {
			t.Errorf("ParseCredits(%q) = %d, %v; want %d", c.in, got, err, c.micro)
		}
		if s := FormatCredits(c.micro); s != c.out {
			t.Errorf("FormatCredits(%d) = %q, want %q", c.micro, s, c.out)
		}
	}
	for _, bad := range []string{"", ".", "-", "1.2345678", "1e6", "abc", "1..2", "9223372036855", "9223372036854.775808", "0x10", "1,5"} {
		if v, err := ParseCredits(bad); err == nil {
			t.Errorf("ParseCredits(%q) = %d, want an error", bad, v)
		}
	}
	if s := FormatCredits(math.MinInt64); s != "-9223372036854.775808" {
		t.Errorf("FormatCredits(MinInt64) = %q", s)
	}
}

func TestParseGenesis(t *testing.T) {
	a, b := newAccount(t), newAccount(t)
	g, err := ParseGenesis([]byte(`{"` + a.id + `": 100, "` + b.id + `": "2.5"}`))
	if err != nil {
		t.Fatal(err)
	}
	if g.Balances[a.id] != 100*MicroPerCredit || g.Balances[b.id] != 2_500_000 || g.Supply() != 102_500_000 {
		t.Fatalf("plain genesis: %+v", g)
	}
	full := `{"balances": {"` + a.id + `": 1}, "fee_bps": 50, "operator": "` + b.id + `",
		"grant": {"amount": "0.5", "max_per_hour": 10}, "id_window": "30m"}`
	g, err = ParseGenesis([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if g.FeeBPS != 50 || g.Operator != b.id || g.Grant == nil || g.Grant.Amount != 500_000 || g.Grant.MaxPerHour != 10 || g.IDWindow.Minutes() != 30 {
		t.Fatalf("full genesis: %+v", g)
	}
	for _, bad := range []string{
		`{"not-a-peer": 1}`,
		`{"` + a.id + `": -1}`,
		`{"balances": {}, "fee_bps": 50}`, // fee without operator
		`{"balances": {}, "fee_bps": 20000, "operator": "` + b.id + `"}`,
		`[1,2]`,
	} {
		if _, err := ParseGenesis([]byte(bad)); err == nil {
			t.Errorf("ParseGenesis(%s) succeeded", bad)
		}
	}
}

func TestSQLiteStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := openSQLiteStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 0 {
		t.Fatalf("empty first index %d", first)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: []byte(strings.Repeat("x", int(i)))})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get([]byte("missing")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing stable key: %v (raft needs \"not found\")", err)
	}
	if err := s.SetUint64([]byte("term"), 7); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = openSQLiteStore(path) // reopened: everything survived
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 4 || last != 10 {
		t.Fatalf("indexes %d..%d, want 4..10", first, last)
	}
	var l raft.Log
	if err := s.GetLog(7, &l); err != nil || l.Term != 2 || string(l.Data) != "xxxxxxx" || l.Type != raft.LogCommand {
		t.Fatalf("get 7: %v %+v", err, l)
	}
	if err := s.GetLog(2, &l); err != raft.ErrLogNotFound {
		t.Fatalf("deleted entry: %v", err)
	}
	if v, err := s.GetUint64([]byte("term")); err != nil || v != 7 {
		t.Fatalf("term %d %v", v, err)
	}
}
