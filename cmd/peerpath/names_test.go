package main

import (
	"encoding/json"
	"testing"

	"github.com/peerpath/peerpath/api"
)

// A table shows a contact by its petname, a stranger's own name marked
// unverified with "~", this node as itself, and anyone else by short id;
// the ids to look up are found anywhere in the value printed.
func TestPeerNames(t *testing.T) {
	const ana = "12D3KooWFHRzaes5cmdVjE4boRDnuhuKJoAbtuXRpKUTYgKLxbdy"
	const eve = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	for _, c := range []struct {
		l    api.Label
		want string
	}{
		{api.Label{ID: ana, Kind: "contact", Name: "Ana"}, "Ana"},
		{api.Label{ID: eve, Kind: "unverified", Name: "Ana"}, "~Ana"},
		{api.Label{ID: ana, Kind: "self", Name: "Bob's desktop"}, "Bob's desktop (this node)"},
		{api.Label{ID: eve, Kind: "id"}, short(eve)},
	} {
		if got := labelText(c.l); got != c.want {
			t.Errorf("labelText(%+v) = %q, want %q", c.l, got, c.want)
		}
	}
	v := []api.Transfer{{From: ana, To: eve, Memo: "not an id: 12D3KooWshort"}}
	found := peerIDPattern.FindAllString(mustJSON(t, v), -1)
	if len(found) != 2 || found[0] != ana || found[1] != eve {
		t.Fatalf("ids found: %v", found)
	}
	g := &globals{}
	g.names.m = map[string]string{ana: "Ana"}
	if g.name(ana) != "Ana" || g.name(eve) != short(eve) {
		t.Fatalf("name: %q %q", g.name(ana), g.name(eve))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
