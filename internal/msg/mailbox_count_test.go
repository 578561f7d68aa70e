package msg

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/store"
)

// checkCounters compares the counters msg_mailbox's triggers keep with
// what the table holds.
func checkCounters(t *testing.T, db *store.DB) {
	t.Helper()
	for _, q := range []struct{ counted, actual string }{
		{`SELECT COALESCE(group_concat(sender || ':' || n || ':' || bytes), '') FROM (SELECT * FROM msg_mailbox_senders ORDER BY sender)`,
			`SELECT COALESCE(group_concat(sender || ':' || n || ':' || b), '') FROM (SELECT sender, COUNT(*) AS n, SUM(LENGTH(blob)) AS b FROM msg_mailbox GROUP BY sender ORDER BY sender)`},
		{`SELECT COALESCE(group_concat(hex(tag) || ':' || n), '') FROM (SELECT * FROM msg_mailbox_tags ORDER BY tag)`,
			`SELECT COALESCE(group_concat(hex(tag) || ':' || n), '') FROM (SELECT tag, COUNT(*) AS n FROM msg_mailbox GROUP BY tag ORDER BY tag)`},
		{`SELECT n || ':' || bytes FROM msg_mailbox_total`,
			`SELECT COUNT(*) || ':' || COALESCE(SUM(LENGTH(blob)), 0) FROM msg_mailbox`},
	} {
		var counted, actual string
		if err := db.QueryRow(q.counted).Scan(&counted); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(q.actual).Scan(&actual); err != nil {
			t.Fatal(err)
		}
		if counted != actual {
			t.Fatalf("counters %q, table %q", counted, actual)
		}
	}
}

// TestMailboxBoundChecksIndexed: a put checks its bounds through counters
// read by primary key (no query scans a table: the cost does not grow with
// what the mailbox holds); the counters follow every put, ack and expiry;
// each bound refuses at exactly its limit and frees with an ack.
func TestMailboxBoundChecksIndexed(t *testing.T) {
	m := newTNode(t, nil)
	ctx := context.Background()
	for _, q := range []string{sqlSenderCount, sqlTagCount, sqlTotalCount} {
		rows, err := m.db.Query(`EXPLAIN QUERY PLAN `+q, "x")
		if q == sqlTotalCount {
			rows, err = m.db.Query(`EXPLAIN QUERY PLAN ` + q)
		}
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) == 0 {
			t.Fatalf("no plan for %s", q)
		}
		for _, d := range plan {
			if !strings.HasPrefix(d, "SEARCH") || strings.Contains(d, "msg_mailbox ") {
				t.Fatalf("%s: plan %q", q, plan)
			}
		}
	}
	put := func(from peer.ID, tag [tagSize]byte, i int) byte {
		return m.svc.serveMailbox(ctx, from, mailboxRequest{Op: opPut, Tags: [][tagSize]byte{tag}, Blob: envFor(i)})[0]
	}
	ack := func(tag [tagSize]byte) {
		t.Helper()
		ans := m.svc.serveMailbox(ctx, m.id(), mailboxRequest{Op: opGet, Tags: [][tagSize]byte{tag}})
		items, err := decodeItems(ans[1:])
		if err != nil || len(items) == 0 {
			t.Fatalf("get: %d items, %v", len(items), err)
		}
		m.svc.serveMailbox(ctx, m.id(), mailboxRequest{Op: opAck, Tags: [][tagSize]byte{tag}, Items: [][itemIDSize]byte{items[0].ID}})
	}
	// Per sender: the last one under the bound is taken, the next refused;
	// an ack frees a place.
	spammer, _ := randomPeer(t)
	tagOf := func(i int) [tagSize]byte { return [tagSize]byte{byte(i), byte(i >> 8), 2} }
	for i := range mailboxPerSender {
		if st := put(spammer, tagOf(i), i); st != stOK {
			t.Fatalf("put %d: status %d", i, st)
		}
	}
	checkCounters(t, m.db)
	if st := put(spammer, tagOf(5000), 5000); st != stFull {
		t.Fatalf("put past the sender's bound: status %d", st)
	}
	ack(tagOf(3))
	checkCounters(t, m.db)
	if st := put(spammer, tagOf(5001), 5001); st != stOK {
		t.Fatalf("put after an ack: status %d", st)
	}
	if st := put(spammer, tagOf(5002), 5002); st != stFull {
		t.Fatalf("put past the sender's bound again: status %d", st)
	}
	// Per tag, from many senders.
	tag := [tagSize]byte{7, 7}
	for i := range mailboxPerTag {
		p, _ := randomPeer(t)
		if st := put(p, tag, 10000+i); st != stOK {
			t.Fatalf("tag put %d: status %d", i, st)
		}
	}
	p, _ := randomPeer(t)
	if st := put(p, tag, 20000); st != stFull {
		t.Fatalf("put past the tag's bound: status %d", st)
	}
	ack(tag)
	if st := put(p, tag, 20001); st != stOK {
		t.Fatalf("tag put after an ack: status %d", st)
	}
	checkCounters(t, m.db)
	// In all: the mailbox is made to look one short of full (the counter
	// is what the put reads), then takes one and refuses the next.
	var held int64
	m.db.QueryRow(`SELECT n FROM msg_mailbox_total`).Scan(&held)
	if _, err := m.db.Exec(`UPDATE msg_mailbox_total SET n = ?`, mailboxTotal-1); err != nil {
		t.Fatal(err)
	}
	q, _ := randomPeer(t)
	if st := put(q, [tagSize]byte{8, 8}, 30000); st != stOK {
		t.Fatalf("last put under the total: status %d", st)
	}
	if st := put(q, [tagSize]byte{8, 9}, 30001); st != stFull {
		t.Fatalf("put past the total: status %d", st)
	}
	m.db.Exec(`UPDATE msg_mailbox_total SET n = ?`, held+1)
	checkCounters(t, m.db)
	// Expiry deletes through the same triggers; rows are never updated.
	if _, err := m.db.Exec(`UPDATE msg_mailbox SET sender = 'x'`); err == nil {
		t.Fatal("a mailbox row was updated (its counters would be wrong)")
	}
	m.db.Exec(`DELETE FROM msg_mailbox WHERE rowid % 3 = 0`)
	checkCounters(t, m.db)
	m.svc.cfg.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	m.svc.now = m.svc.cfg.Now
	m.svc.expire(ctx)
	checkCounters(t, m.db)
	if st, err := m.svc.Status(ctx); err != nil || st.Holding != 0 || st.HoldingBytes != 0 {
		t.Fatalf("status after expiry: %+v %v", st, err)
	}
}

// TestMailboxCountersMigrated: a database of the version before the
// counters, holding envelopes, gets counters that match what it holds.
func TestMailboxCountersMigrated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, "msg", migrations[:2]); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := db.Exec(`INSERT INTO msg_mailbox(tag, id, sender, blob, expires) VALUES (?, ?, ?, ?, ?)`,
			[]byte{byte(i % 4)}, []byte{byte(i)}, []string{"a", "b", "c"}[i%3], envFor(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Migrate(ctx, "msg", migrations); err != nil {
		t.Fatal(err)
	}
	var n int
	db.QueryRow(`SELECT n FROM msg_mailbox_total`).Scan(&n)
	if n != 50 {
		t.Fatalf("total %d", n)
	}
	checkCounters(t, db)
}

// BenchmarkMailboxPut: a put into a mailbox holding b.N-independent
// mailboxTotal-1000 envelopes (near full), from a sender and under a tag
// of their own; each put is acknowledged again so the mailbox stays at
// that size. Compare with the table scan the counters replaced:
// BenchmarkMailboxCountScan.
func BenchmarkMailboxPut(b *testing.B) {
	m, ctx := fullMailbox(b)
	p, _ := randomPeer(b)
	tag := [tagSize]byte{0xfe}
	b.ResetTimer()
	for i := range b.N {
		if st := m.svc.serveMailbox(ctx, p, mailboxRequest{Op: opPut, Tags: [][tagSize]byte{tag}, Blob: envFor(1<<40 + i)})[0]; st != stOK {
			b.Fatalf("put: %d", st)
		}
		if i%100 == 99 {
			m.db.Exec(`DELETE FROM msg_mailbox WHERE tag = ?`, tag[:])
		}
	}
}

// BenchmarkMailboxCountScan is the total count a put made before the
// counters, on the same mailbox.
func BenchmarkMailboxCountScan(b *testing.B) {
	m, ctx := fullMailbox(b)
	b.ResetTimer()
	for range b.N {
		var n, size int64
		if err := m.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(LENGTH(blob)), 0) FROM msg_mailbox`).Scan(&n, &size); err != nil {
			b.Fatal(err)
		}
	}
}

func fullMailbox(b *testing.B) (*tnode, context.Context) {
	m := newTNode(b, nil)
	ctx := context.Background()
	tx, err := m.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range mailboxTotal - 1000 {
		if _, err := tx.Exec(`INSERT INTO msg_mailbox(tag, id, sender, blob, expires) VALUES (?, ?, ?, ?, ?)`,
			[]byte{byte(i), byte(i >> 8), byte(i >> 16)}, []byte{byte(i), byte(i >> 8), byte(i >> 16), 1}, fmt.Sprint("s", i%1000), envFor(i), time.Now().Add(time.Hour).Unix()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return m, ctx
}
