package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/testutil"
)

// A restore of many objects uses one get session per holder, not one
// stream per share, and gets each object right, many objects at once.
func TestGetSessionsReused(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 7, 256<<20)
	owner := ms[0]
	ctx := ctxT(t)
	const objects = 24
	plains := make([][]byte, objects)
	refs := make([]Ref, objects)
	for i := range refs {
		plains[i] = testutil.RandBytes(60_000 + 1000*i)
		var err error
		if refs[i], err = owner.s.Put(ctx, plains[i], PutOptions{K: 3, N: 6}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, objects)
	for i := range refs {
		wg.Go(func() {
			got, err := owner.s.Get(ctx, refs[i])
			if err == nil && !bytes.Equal(got, plains[i]) {
				err = errors.New("object differs")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var sessions, gets int64
	for _, m := range ms[1:] {
		sessions += m.s.sessions.Load()
		gets += m.s.sessionGets.Load()
	}
	// At least k gets per object, on far fewer streams than gets: one per
	// holder, opened again only when the first is retired (2 s idle, on a
	// loaded machine), where one stream per share gave a stream per get.
	if gets < objects*3 || sessions == 0 || 4*sessions > gets {
		t.Fatalf("%d gets on %d sessions over %d holders", gets, sessions, len(ms)-1)
	}
	t.Logf("%d gets on %d sessions", gets, sessions)
}

// A holder that speaks only the one-request protocol is still fetched
// from, over that protocol.
func TestGetFromOldHolder(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 4, 64<<20)
	owner := ms[0]
	ctx := ctxT(t)
	plain := testutil.RandBytes(50_000)
	ref, err := owner.s.Put(ctx, plain, PutOptions{K: 2, N: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[1:] {
		// As an older node: it does not serve the protocol, and the owner
		// learnt so from identify.
		m.h.RemoveStreamHandler(FetchProtocolID)
		if err := owner.h.Peerstore().RemoveProtocols(m.h.ID(), FetchProtocolID); err != nil {
			t.Fatal(err)
		}
	}
	got, err := owner.s.Get(ctx, ref)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("get from old holders: %v", err)
	}
	for _, m := range ms[1:] {
		if !owner.s.isOld(m.h.ID()) {
			t.Fatalf("holder %s not noted as speaking only %s", m.h.ID(), ProtocolID)
		}
	}
}

// A share altered on its holder's disk is refused by the holder on a get
// session (the session goes on), and Get rebuilds the object from others.
func TestGetSessionCorruptShare(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 6, 64<<20)
	owner := ms[0]
	ctx := ctxT(t)
	plain := testutil.RandBytes(100_000)
	ref, err := owner.s.Put(ctx, plain, PutOptions{K: 2, N: 5})
	if err != nil {
		t.Fatal(err)
	}
	victim := holderOf(t, ms, ref, 0)
	p := victim.s.held.path(ref.Shares[0])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, ref.ShareSize())
	if err := owner.s.getInto(ctx, victim.h.ID(), ref.Shares[0], buf); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("altered share: %v", err)
	}
	got, err := owner.s.Get(ctx, ref)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("get with an altered share: %v", err)
	}
}

func holderOf(t *testing.T, ms []*member, ref Ref, i int) *member {
	t.Helper()
	for _, m := range ms {
		if m.h.ID().String() == ref.Holders[i] {
			return m
		}
	}
	t.Fatalf("no holder of share %d", i)
	return nil
}

// rawSession opens a get session from c to m by hand, as a hostile peer
// would.
func rawSession(t *testing.T, c, m *member) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.h.NewStream(ctx, m.h.ID(), FetchProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Reset() })
	_ = st.SetDeadline(time.Now().Add(30 * time.Second))
	return st
}

// A client that pipelines gets without bound is served at most
// MaxFetchesPerStream on one stream, one at a time, and the stream then
// ends; a peer holds at most four sessions at once; a session with no
// request is closed after fetchIdle.
func TestGetSessionBounds(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 2, 64<<20)
	c, m := ms[0], ms[1]
	ctx := ctxT(t)
	data := testutil.RandBytes(3000)
	id := HashShare(data)
	if _, err := c.s.putShare(ctx, m.h.ID(), id, data, time.Hour, [32]byte{}); err != nil {
		t.Fatal(err)
	}

	st := rawSession(t, c, m)
	const sent = MaxFetchesPerStream + 20
	werr := make(chan error, 1)
	go func() { // written while the replies are read: flow control holds the rest
		var err error
		for range sent {
			if err = p2p.WriteMsg(st, encodeFetch(id)); err != nil {
				break
			}
		}
		werr <- err
	}()
	buf := make([]byte, len(data))
	ok := 0
	for {
		status, _, err := readFetchReply(st, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after %d replies: %v", ok, err)
			}
			break
		}
		if status != statusOK || !bytes.Equal(buf, data) {
			t.Fatalf("reply %d: status %d", ok, status)
		}
		ok++
	}
	<-werr // its error, if any, is the stream ending
	if ok != MaxFetchesPerStream {
		t.Fatalf("%d gets served on one stream, limit %d", ok, MaxFetchesPerStream)
	}

	// Four sessions of one peer at once; a fifth is told busy.
	var held []network.Stream
	for range 4 {
		s := rawSession(t, c, m)
		if err := p2p.WriteMsg(s, encodeFetch(id)); err != nil {
			t.Fatal(err)
		}
		if status, _, err := readFetchReply(s, buf); err != nil || status != statusOK {
			t.Fatalf("session within the limit: %d, %v", status, err)
		}
		held = append(held, s)
	}
	fifth := rawSession(t, c, m)
	if err := p2p.WriteMsg(fifth, encodeFetch(id)); err != nil {
		t.Fatal(err)
	}
	if status, _, err := readFetchReply(fifth, buf); err != nil || status != statusBusy {
		t.Fatalf("fifth session: %d, %v; want busy", status, err)
	}
	// Idle sessions are closed by the server within fetchIdle.
	start := time.Now()
	for _, s := range held {
		_ = s.SetReadDeadline(time.Now().Add(fetchIdle + 5*time.Second))
		if _, err := s.Read(buf[:1]); err == nil {
			t.Fatal("idle session sent something")
		}
	}
	if d := time.Since(start); d > fetchIdle+4*time.Second {
		t.Fatalf("idle sessions closed after %s", d)
	}
	testutil.Eventually(t, 5*time.Second, "the sessions released", func() bool { return m.s.fetchAdmit.Held() == 0 })
}

// A holder that takes gets and never answers costs a get no more than its
// deadline, and the holder is then asked after the others.
func TestGetSessionStalledHolder(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 2, 64<<20)
	c, m := ms[0], ms[1]
	stalled := make(chan struct{})
	t.Cleanup(func() { close(stalled) }) // before the cluster's: its handlers end
	m.h.SetStreamHandler(FetchProtocolID, func(st network.Stream) {
		defer st.Reset()
		<-stalled
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := c.s.getInto(ctx, m.h.ID(), ShareID{1}, make([]byte, 100))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("stalled holder: %v after %s", err, time.Since(start))
	}
	if down, _ := c.s.holderRank(m.h.ID()); !down {
		t.Fatal("stalled holder not ranked last")
	}
}

// A holder whose connection never completes (a listener that accepts and
// says nothing) costs a get no longer than the get's own context, even
// though the session's opening goes on for others; Close ends it.
func TestGetSessionSlowDialCutByCaller(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 1, 0)
	c := ms[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	accepted := make(chan net.Conn, 4)
	held.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- conn
		}
	})
	t.Cleanup(func() {
		ln.Close()
		held.Wait()
		close(accepted)
		for conn := range accepted {
			conn.Close()
		}
	})
	other := cluster(t, 1, 0)[0].h.ID() // a real id, at an address that never answers
	port := ln.Addr().(*net.TCPAddr).Port
	c.h.Peerstore().AddAddr(other, ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)), time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.s.getInto(ctx, other, ShareID{1}, make([]byte, 100)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get from a holder that never answers: %v, want the context's end", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("get took %s with a 300 ms context", d)
	}
	start = time.Now()
	c.s.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %s with a session opening", d)
	}
}
