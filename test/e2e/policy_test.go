//go:build linux

package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

// A content policy at work with real daemons: a node that loads a
// denylist (the compact denylist format gateways use) refuses to serve the
// content it names, and the requesting node gets a clear error at once,
// not a hang; the same node refuses to download it itself and drops it
// from the search answers it gives; the list survives a restart; a list
// fetched from a URL works on the other node too.
func TestContentPolicy(t *testing.T) {
	t.Parallel()
	a := startDaemon(t)
	b := startDaemon(t, "--bootstrap", a.Addr())

	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "refusedsong.bin"), 600_000)
	writeRandom(t, filepath.Join(dir, "allowedsong.bin"), 300_000)
	var bad, good shareOut
	cliJSON(t, &bad, "share", filepath.Join(dir, "refusedsong.bin"), "--home", a.Home)
	cliJSON(t, &good, "share", filepath.Join(dir, "allowedsong.bin"), "--home", a.Home)

	list := "version: 1\nname: \"e2e list\"\n---\n# a gateway rule peerpath cannot apply\n/ipns/domain.example\n/ipfs/" + bad.CID + "\n"
	listPath := filepath.Join(t.TempDir(), "e2e.deny")
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	var added api.PolicyList
	cliJSON(t, &added, "policy", "add", listPath, "--home", a.Home)
	if added.Deny != 1 || added.Ignored != 1 || added.Name != "e2e list" || len(added.Warnings) != 1 ||
		!strings.Contains(added.Warnings[0], "IPNS") {
		t.Fatalf("policy add: %+v", added)
	}

	// b asks a for the refused file: a clear refusal, quickly.
	out := t.TempDir()
	start := time.Now()
	_, errOut, code := cli(t, "get", bad.CID, "-o", filepath.Join(out, "bad"), "--timeout", "60s", "--home", b.Home)
	if code == 0 || !strings.Contains(errOut, "refused by the serving peer's content policy") {
		t.Fatalf("get of a refused file: exit %d: %s", code, errOut)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the refusal took %v", d)
	}
	if _, err := os.Stat(filepath.Join(out, "bad")); !os.IsNotExist(err) {
		t.Fatalf("a refused download left a file: %v", err)
	}
	// What the list does not name is served as before.
	var res api.GetResult
	cliJSON(t, &res, "get", good.CID, "-o", filepath.Join(out, "good"), "--home", b.Home)

	// a's search answers leave the refused file out: b finds the allowed
	// one, never the refused one.
	eventually(t, 40*time.Second, func() error {
		o, e, code := cli(t, "search", "allowedsong", "--json", "--timeout", "3s", "--home", b.Home)
		if code != 0 || !strings.Contains(o, good.CID) {
			return errorString("allowed file not found yet: " + o + e)
		}
		return nil
	})
	if o, _, _ := cli(t, "search", "refusedsong", "--json", "--timeout", "3s", "--home", b.Home); strings.Contains(o, bad.CID) {
		t.Fatalf("search shows a refused file: %s", o)
	}

	// a itself refuses to get it, before asking anyone.
	_, errOut, code = cli(t, "get", bad.CID, "-o", filepath.Join(t.TempDir(), "x"), "--home", a.Home)
	if code == 0 || !strings.Contains(errOut, "refused by this node's content policy") {
		t.Fatalf("get on the denying node: exit %d: %s", code, errOut)
	}

	// The list survives a restart.
	a.Stop()
	a = startDaemonHome(t, a.Home)
	var pol api.Policy
	cliJSON(t, &pol, "policy", "--home", a.Home)
	if len(pol.Lists) != 1 || pol.Lists[0].ID != added.ID || pol.Deny != 1 || pol.Lists[0].Source != "e2e.deny" {
		t.Fatalf("policy after restart: %+v", pol)
	}
	_, errOut, code = cli(t, "get", bad.CID, "-o", filepath.Join(t.TempDir(), "x"), "--home", a.Home)
	if code == 0 || !strings.Contains(errOut, "refused by this node's content policy") {
		t.Fatalf("get after restart: exit %d: %s", code, errOut)
	}

	// b loads the same list from a URL, fetched once.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(list))
	}))
	defer srv.Close()
	cliJSON(t, &added, "policy", "add", srv.URL+"/e2e.deny", "--home", b.Home)
	if added.Deny != 1 || !strings.HasPrefix(added.Source, "http://127.0.0.1") {
		t.Fatalf("policy add URL: %+v", added)
	}
	_, errOut, code = cli(t, "get", bad.CID, "-o", filepath.Join(t.TempDir(), "y"), "--home", b.Home)
	if code == 0 || !strings.Contains(errOut, "refused by this node's content policy") {
		t.Fatalf("get on b after its policy: exit %d: %s", code, errOut)
	}
	// Unloading it lifts the refusal locally (a still refuses to serve).
	var after api.Policy
	cliJSON(t, &after, "policy", "remove", added.ID, "--home", b.Home)
	if len(after.Lists) != 0 {
		t.Fatalf("policy remove: %+v", after)
	}
}
