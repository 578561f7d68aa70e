//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peerpath/peerpath/api"
)

// msgList runs `peerpath msg list [with] --json` on d.
func msgList(t *testing.T, d *daemon, with string) []api.Message {
	t.Helper()
	args := []string{"msg", "list", "--json", "--home", d.Home}
	if with != "" {
		args = append(args, with)
	}
	out, errOut, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("msg list: %d %s", code, errOut)
	}
	var ms []api.Message
	for _, line := range lines(out) {
		var m api.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		ms = append(ms, m)
	}
	return ms
}

func msgStatus(t *testing.T, d *daemon) api.MsgStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := d.Client.MsgStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// homeHolds reports the files under home whose bytes contain needle.
func homeHolds(t *testing.T, home string, needle []byte) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(home, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, needle) {
			found = append(found, path)
		}
		return nil
	})
	return found
}

// Two daemons online talk directly: delivered at once, then read.
func TestMsgDirect(t *testing.T) {
	t.Parallel()
	a := startDaemon(t)
	b := startDaemon(t, "--bootstrap", a.Addr())
	aid, bid := a.ID().ID, b.ID().ID
	var sent api.MsgSent
	eventually(t, 20*time.Second, func() error {
		out, errOut, code := cli(t, "msg", "send", bid, "hello", "bob", "--json", "--home", a.Home)
		if code != 0 {
			return fmt.Errorf("send: %s", errOut)
		}
		return json.Unmarshal([]byte(out), &sent)
	})
	if sent.State != "delivered" || sent.ID == "" {
		t.Fatalf("sent %+v", sent)
	}
	got := msgList(t, b, aid)
	if len(got) != 1 || got[0].Text != "hello bob" || got[0].From != aid || got[0].To != bid || got[0].State != "delivered" || got[0].Folder != "requests" {
		t.Fatalf("b lists %+v", got)
	}
	if _, errOut, code := cli(t, "msg", "read", aid, "--home", b.Home); code != 0 {
		t.Fatalf("msg read: %s", errOut)
	}
	eventually(t, 20*time.Second, func() error {
		ms := msgList(t, a, bid)
		if len(ms) != 1 || ms[0].State != "read" {
			return fmt.Errorf("a lists %+v", ms)
		}
		return nil
	})
}

// The "Done when": A sends to B while B is stopped, A stops too,
// B starts and reads the message, delivered through mailboxes C and D
// whose homes hold no plaintext.
func TestMsgOfflineThroughMailboxes(t *testing.T) {
	t.Parallel()
	c := startDaemon(t)
	d := startDaemon(t, "--bootstrap", c.Addr())
	boot := []string{"--bootstrap", c.Addr(), "--bootstrap", d.Addr()}
	b := startDaemon(t, boot...)
	a := startDaemon(t, boot...)
	aid, bid := a.ID().ID, b.ID().ID
	// B's prekey bundle reaches its mailboxes (C and D) before B goes.
	eventually(t, 30*time.Second, func() error {
		if n := msgStatus(t, b).BundleReplicas; n < 2 {
			return fmt.Errorf("bundle on %d mailboxes", n)
		}
		return nil
	})
	b.Stop()

	const text = "the key is under the blue flowerpot"
	var sent api.MsgSent
	cliJSON(t, &sent, "msg", "send", bid, text, "--home", a.Home)
	if sent.State != "stored" {
		t.Fatalf("sent %+v, want stored", sent)
	}
	for _, m := range []*daemon{c, d} {
		if st := msgStatus(t, m); st.Holding != 1 {
			t.Fatalf("mailbox %s holds %d envelopes, want 1", m.Home, st.Holding)
		}
	}
	a.Stop()

	b2 := startDaemonHome(t, b.Home, boot...)
	eventually(t, 40*time.Second, func() error {
		ms := msgList(t, b2, aid)
		if len(ms) != 1 || ms[0].Text != text || ms[0].From != aid {
			return fmt.Errorf("b lists %+v", ms)
		}
		return nil
	})
	for _, m := range []*daemon{c, d} {
		if files := homeHolds(t, m.Home, []byte(text)); len(files) > 0 {
			t.Fatalf("mailbox home holds the plaintext in %v", files)
		}
	}
	if files := homeHolds(t, b.Home, []byte(text)); len(files) == 0 {
		t.Fatal("the guard proves nothing: b's home does not hold the text either")
	}
}

// A group over GossipSub: every member reads the creator's message; after
// a member is removed, the group is rekeyed and the removed member cannot
// read the next message, which the others do.
func TestMsgGroupRemovedMember(t *testing.T) {
	t.Parallel()
	a := startDaemon(t)
	b := startDaemon(t, "--bootstrap", a.Addr())
	c := startDaemon(t, "--bootstrap", a.Addr(), "--bootstrap", b.Addr())
	bid, cid := b.ID().ID, c.ID().ID
	var gr api.Group
	cliJSON(t, &gr, "group", "create", "friends", "--members", bid+","+cid, "--home", a.Home)
	if len(gr.Members) != 3 || gr.Epoch != 1 {
		t.Fatalf("group %+v", gr)
	}
	// Sent until the mesh has formed and both members read one.
	hasText := func(d *daemon, text string) bool {
		for _, m := range msgList(t, d, "group:friends") {
			if m.Text == text {
				return true
			}
		}
		return false
	}
	sendUntil := func(text string, readers ...*daemon) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			if _, errOut, code := cli(t, "msg", "send", "group:friends", text, "--home", a.Home); code != 0 {
				return fmt.Errorf("send: %s", errOut)
			}
			for _, d := range readers {
				if !hasText(d, text) {
					return fmt.Errorf("%s has not read %q", d.Home, text)
				}
			}
			return nil
		})
	}
	sendUntil("hello friends", b, c)

	cliJSON(t, &gr, "group", "remove", "friends", cid, "--home", a.Home)
	if gr.Epoch != 2 || len(gr.Members) != 2 {
		t.Fatalf("after removal %+v", gr)
	}
	sendUntil("c is gone now", b)
	if hasText(c, "c is gone now") {
		t.Fatal("the removed member read the next message")
	}
}

// The Chat page, at a phone's width: a message arrives live (server-sent
// events) with its unread count, opening the conversation shows it and
// marks it read, and a reply typed in the page reaches the sender.
func TestBrowserChat(t *testing.T) {
	t.Parallel()
	a := startDaemon(t)
	b := startDaemon(t, "--bootstrap", a.Addr())
	bid := b.ID().ID
	bb := newBrowser(t)
	bb.do(t,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(loginURL(t, b)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
		chromedp.Click(chromedp.CSS(`a[href="#/chat"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chat-form`)),
	)
	eventually(t, 20*time.Second, func() error {
		_, errOut, code := cli(t, "msg", "send", bid, "hello from a", "--home", a.Home)
		if code != 0 {
			return fmt.Errorf("send: %s", errOut)
		}
		return nil
	})
	// Live: the page was open before the message came; nothing reloads it.
	// A is not B's contact: the message is a request, shown apart.
	until(t, bb, 15*time.Second, "request shown", `document.querySelector('[data-bind="requests-total"]').textContent === "1" && document.querySelector('[data-bind="requests"]').textContent.includes("hello from a") ? "" : "requests " + document.querySelector('[data-bind="requests-total"]').textContent`)
	// Once A is a contact, its conversation is an ordinary one.
	if _, errOut, code := cli(t, "contacts", "add", a.ID().ID, "--name", "Ana", "--home", b.Home); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := cli(t, "msg", "send", bid, "second", "--home", a.Home); code != 0 {
		t.Fatal(errOut)
	}
	until(t, bb, 15*time.Second, "unread badge", `document.querySelector('[data-bind="unread-total"]').textContent === "2" && document.querySelector('[data-bind="requests-total"]').textContent === "" ? "" : "badge " + document.querySelector('[data-bind="unread-total"]').textContent`)
	bb.do(t, chromedp.Click(chromedp.CSS(`button[aria-label="Open conversation"]`)))
	until(t, bb, 10*time.Second, "message shown", `document.querySelector('[data-bind="msgs"]').textContent.includes("hello from a") ? "" : "not shown"`)
	eventually(t, 15*time.Second, func() error {
		ms := msgList(t, a, bid)
		if len(ms) != 2 || ms[0].State != "read" || ms[1].State != "read" {
			return fmt.Errorf("a lists %+v", ms)
		}
		return nil
	})
	bb.do(t,
		chromedp.SetValue(chromedp.CSS(`#chat-text`), "hi a, from the page"),
		chromedp.Click(chromedp.CSS(`#chat-form button[type="submit"]`)),
	)
	eventually(t, 15*time.Second, func() error {
		for _, m := range msgList(t, a, bid) {
			if m.Text == "hi a, from the page" && m.From == bid {
				return nil
			}
		}
		return fmt.Errorf("reply not at a")
	})
	bb.noConsoleErrors(t)
}
