package msg

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestListFolderBeforeLimit: a folder is chosen before the limit applies,
// so old requests are listed however many newer inbox messages there are.
func TestListFolderBeforeLimit(t *testing.T) {
	b := newTNode(t, nil)
	friend, _ := randomPeer(t)
	stranger, _ := randomPeer(t)
	b.peers.mu.Lock()
	b.peers.contacts[friend] = true
	b.peers.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := time.Now().Add(-time.Hour).UnixMilli()
	add := func(from string, i int, folder string) {
		t.Helper()
		if _, err := b.db.Exec(`INSERT INTO msg_messages(peer, id, out, sender, text, time, state, folder) VALUES (?, ?, 0, ?, ?, ?, ?, ?)`,
			from, newID(), from, fmt.Sprint(folder, " ", i), base+int64(i), StateDelivered, folder); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		add(stranger.String(), i, FolderRequests)
	}
	for i := range 10 {
		add(friend.String(), 100+i, FolderInbox)
	}
	ms, err := b.svc.List(ctx, ListOptions{Folder: FolderRequests, Limit: 5})
	if err != nil || len(ms) != 3 {
		t.Fatalf("requests with limit 5: %d, %v", len(ms), err)
	}
	for i, m := range ms {
		if m.Folder != FolderRequests || m.From != stranger || m.Text != fmt.Sprint("requests ", i) {
			t.Fatalf("request %d: %+v", i, m)
		}
	}
	ms, err = b.svc.List(ctx, ListOptions{Limit: 5})
	if err != nil || len(ms) != 5 || ms[0].Text != "inbox 105" || ms[4].Text != "inbox 109" {
		t.Fatalf("newest 5 of all: %+v, %v", ms, err)
	}
	ms, err = b.svc.List(ctx, ListOptions{Folder: FolderInbox, Limit: 20})
	if err != nil || len(ms) != 10 {
		t.Fatalf("inbox: %d, %v", len(ms), err)
	}
}
