//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

// A stranger's message lands in requests (`msg requests`, marked in
// `msg list`); `peerpath block` refuses the next one; adding the sender
// as a contact moves the conversation to the inbox.
func TestMsgRequestsAndBlock(t *testing.T) {
	t.Parallel()
	b := startDaemon(t)
	a := startDaemon(t, "--bootstrap", b.Addr())
	aid, bid := a.ID().ID, b.ID().ID
	var sent api.MsgSent
	eventually(t, 20*time.Second, func() error {
		out, errOut, code := cli(t, "msg", "send", bid, "hello", "stranger", "--json", "--home", a.Home)
		if code != 0 {
			return fmt.Errorf("send: %s", errOut)
		}
		return json.Unmarshal([]byte(out), &sent)
	})
	if sent.State != "delivered" {
		t.Fatalf("sent %+v", sent)
	}
	requests := func() []api.Message {
		out, errOut, code := cli(t, "msg", "requests", "--json", "--home", b.Home)
		if code != 0 {
			t.Fatalf("msg requests: %s", errOut)
		}
		var ms []api.Message
		for _, l := range lines(out) {
			var m api.Message
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		return ms
	}
	if rs := requests(); len(rs) != 1 || rs[0].Text != "hello stranger" || rs[0].From != aid || rs[0].Folder != "requests" {
		t.Fatalf("requests %+v", rs)
	}
	if out, _, _ := cli(t, "msg", "list", "--home", b.Home); !strings.Contains(out, "[request] hello stranger") {
		t.Fatalf("msg list does not mark the request:\n%s", out)
	}
	// Blocked: refused.
	if _, errOut, code := cli(t, "block", aid, "--home", b.Home); code != 0 {
		t.Fatal(errOut)
	}
	cliJSON(t, &sent, "msg", "send", bid, "let me in", "--home", a.Home)
	if sent.State == "delivered" {
		t.Fatalf("a blocked peer's message: %+v", sent)
	}
	if ms := msgList(t, b, aid); len(ms) != 1 {
		t.Fatalf("b has %+v after blocking", ms)
	}
	// A contact: the conversation moves to the inbox.
	if _, errOut, code := cli(t, "unblock", aid, "--home", b.Home); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := cli(t, "contacts", "add", aid, "--name", "Ana", "--home", b.Home); code != 0 {
		t.Fatal(errOut)
	}
	if rs := requests(); len(rs) != 0 {
		t.Fatalf("requests after adding the contact: %+v", rs)
	}
	if ms := msgList(t, b, "Ana"); len(ms) == 0 || ms[0].Folder != "inbox" {
		t.Fatalf("b lists %+v", ms)
	}
}
