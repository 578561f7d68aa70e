//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

func balance(t *testing.T, d *daemon, acct string) string {
	t.Helper()
	var b api.Balance
	args := []string{"wallet", "--home", d.Home}
	if acct != "" {
		args = append(args, acct)
	}
	cliJSON(t, &b, args...)
	return b.Balance.String()
}

// Three daemons run a 3-voter ledger; wallet send moves credits; a fourth,
// non-voting node pays and reads through the voters; errors are clear;
// losing the leader loses no acknowledged transfer.
func TestLedgerThreeVoters(t *testing.T) {
	v1 := startDaemon(t, "--ledger-voter")
	boot := v1.Addr()
	// A fresh voter takes raft traffic only from the voters it is told of.
	v2 := startDaemon(t, "--ledger-voter", "--bootstrap", boot, "--ledger-voters", v1.ID().ID)
	v3 := startDaemon(t, "--ledger-voter", "--bootstrap", boot, "--ledger-voters", v1.ID().ID)
	ids := []string{v1.ID().ID, v2.ID().ID, v3.ID().ID}
	user := startDaemon(t, "--bootstrap", boot, "--ledger-voters", strings.Join(ids, ","))
	uid := user.ID().ID

	gen := filepath.Join(t.TempDir(), "genesis.json")
	g, _ := json.Marshal(map[string]any{ids[0]: 1000, uid: "50.5"})
	os.WriteFile(gen, g, 0o600)
	if _, errOut, code := cli(t, "ledger", "create", "--voters", strings.Join(ids, ","), "--genesis", gen, "--home", v1.Home); code != 0 {
		t.Fatalf("ledger create: %s", errOut)
	}
	var st api.LedgerStatus
	eventually(t, 20*time.Second, func() error {
		cliJSON(t, &st, "ledger", "status", "--home", v2.Home)
		if st.Leader == "" || len(st.Voters) != 3 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	// wallet send moves credits, from a voter and from a non-voter.
	var rc api.Receipt
	cliJSON(t, &rc, "wallet", "send", uid, "10", "--memo", "thanks", "--home", v1.Home)
	if rc.Amount.String() != "10" {
		t.Fatalf("receipt %+v", rc)
	}
	cliJSON(t, &rc, "wallet", "send", ids[2], "0.5", "--home", user.Home, "--id", "retry-me-0001")
	// A retry of the same id applies once.
	cliJSON(t, &rc, "wallet", "send", ids[2], "0.5", "--home", user.Home, "--id", "retry-me-0001")
	if !rc.Replay {
		t.Fatalf("retry not recognised: %+v", rc)
	}
	eventually(t, 10*time.Second, func() error {
		for _, d := range []*daemon{v1, v2, v3, user} {
			if got := balance(t, d, uid); got != "60" {
				return fmt.Errorf("balance of user seen by %s: %s, want 60", d.Home, got)
			}
		}
		return nil
	})
	if got := balance(t, user, ""); got != "60" {
		t.Fatalf("own balance %s", got)
	}
	if got := balance(t, v1, ids[2]); got != "0.5" {
		t.Fatalf("v3 balance %s", got)
	}
	var hist []api.Transfer
	cliJSON(t, &hist, "wallet", "history", "--home", user.Home)
	if len(hist) != 2 {
		t.Fatalf("history %+v", hist)
	}

	// Clear errors: overdraft, unknown account, bad amount.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"wallet", "send", ids[0], "1000000", "--home", user.Home}, "insufficient funds"},
		{[]string{"wallet", "send", "not-a-peer", "1", "--home", user.Home}, "unknown account"},
		{[]string{"wallet", "send", ids[0], "zero", "--home", user.Home}, "bad amount"},
		{[]string{"wallet", "not-a-peer", "--home", user.Home}, "unknown account"},
	} {
		_, errOut, code := cli(t, c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}

	// Kill the leader: no acknowledged transfer is lost, and new ones are
	// accepted again within seconds.
	cliJSON(t, &st, "ledger", "status", "--home", v1.Home)
	var leader *daemon
	var rest []*daemon
	for _, d := range []*daemon{v1, v2, v3} {
		if d.ID().ID == st.Leader {
			leader = d
		} else {
			rest = append(rest, d)
		}
	}
	if leader == nil {
		t.Fatalf("leader %s is none of the voters", st.Leader)
	}
	leader.Kill()
	start := time.Now()
	eventually(t, 30*time.Second, func() error {
		_, errOut, code := cli(t, "wallet", "send", ids[0], "1", "--home", user.Home, "--id", "after-kill-0001")
		if code != 0 {
			return fmt.Errorf("%s", errOut)
		}
		return nil
	})
	t.Logf("transfers accepted again %s after the leader was killed", time.Since(start).Round(time.Millisecond))
	if got := balance(t, rest[0], uid); got != "59" {
		t.Fatalf("user balance after leader loss: %s, want 59", got)
	}
}

// A node that belongs to no ledger says so at once: `ledger status` reports
// no ledger (200 with a note), and a balance is refused as "no ledger"
// rather than after the request's 15 s timeout.
func TestNoLedgerAnswersAtOnce(t *testing.T) {
	d := startDaemon(t)
	start := time.Now()
	out, errOut, code := cli(t, "ledger", "status", "--home", d.Home)
	if code != 0 || !strings.HasPrefix(out, "no ledger: ") || !strings.Contains(out, "--ledger-voters") {
		t.Fatalf("ledger status: exit %d, %q %q", code, out, errOut)
	}
	var st api.LedgerStatus
	cliJSON(t, &st, "ledger", "status", "--home", d.Home)
	if st.Leader != "" || len(st.Voters) != 0 || st.Note == "" {
		t.Fatalf("status %+v", st)
	}
	_, errOut, code = cli(t, "wallet", "--home", d.Home)
	if code == 0 || !strings.Contains(errOut, "no ledger") {
		t.Fatalf("wallet: exit %d, %q", code, errOut)
	}
	// Three answers well within one request timeout (15 s): nothing waited.
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("answers took %s", el)
	}
}
