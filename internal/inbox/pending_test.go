package inbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeEvents struct {
	mu   sync.Mutex
	seen []string
}

func (e *fakeEvents) Publish(typ string, data any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen = append(e.seen, typ)
}

func (e *fakeEvents) types() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.seen, ",")
}

// A stranger's offer waits for the owner, who accepts it: the files are
// fetched, the sender learns it, and the events tell the web app.
func TestPendingAccept(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ana, bob := newNode(t), newNode(t)
	ev := &fakeEvents{}
	bob.s.cfg.Events = ev
	ana.knows(bob, true)
	o, err := ana.s.Send(ctx, bob.h.ID(), []string{tempFile(t, "a.txt"), tempFile(t, "b.txt")})
	if err != nil || o.State != StatePending {
		t.Fatalf("send: %+v, %v", o, err)
	}
	ps := bob.s.Pending()
	if len(ps) != 1 || len(ps[0].Files) != 2 || ps[0].Expires.Sub(ps[0].Time) != PendingFor {
		t.Fatalf("pending = %+v", ps)
	}
	if bob.dl.count() != 0 {
		t.Fatal("fetched before the owner accepted")
	}
	if _, err := bob.s.Accept(ctx, "nosuchid"); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("accept of an unknown id: %v", err)
	}
	if _, err := bob.s.Accept(ctx, ps[0].ID); err != nil {
		t.Fatal(err)
	}
	ana.waitState(t, o.ID, StateAccepted, "")
	if bob.dl.count() != 2 {
		t.Fatalf("fetched %d", bob.dl.count())
	}
	if _, err := bob.s.Decline(ctx, ps[0].ID); !errors.Is(err, ErrNoOffer) {
		t.Fatalf("decline after accept: %v", err)
	}
	if len(bob.s.Pending()) != 0 {
		t.Fatal("still pending after accept")
	}
	if got := ev.types(); got != EventPending+","+EventDecided {
		t.Fatalf("events %q", got)
	}
	in, _ := bob.s.Received(ctx)
	if len(in) != 1 || !in[0].Accepted {
		t.Fatalf("received = %+v", in)
	}
}

// An offer nobody answers expires, and the sender is told so in words.
func TestPendingExpires(t *testing.T) {
	old, oldWait := PendingFor, pendingWait
	PendingFor, pendingWait = 500*time.Millisecond, 5*time.Second
	t.Cleanup(func() { PendingFor, pendingWait = old, oldWait })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ana, bob := newNode(t), newNode(t)
	ana.knows(bob, true)
	o, err := ana.s.Send(ctx, bob.h.ID(), []string{tempFile(t, "a.txt")})
	if err != nil || o.State != StatePending {
		t.Fatalf("send: %+v, %v", o, err)
	}
	ana.waitState(t, o.ID, StateExpired, "did not answer within")
	if len(bob.s.Pending()) != 0 || bob.dl.count() != 0 {
		t.Fatalf("after expiry: pending %d, fetched %d", len(bob.s.Pending()), bob.dl.count())
	}
}

// One sender holds at most MaxPendingPerPeer waiting offers; the next is
// refused with the reason, and answering one makes room.
func TestPendingBounds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eve, bob := newNode(t), newNode(t)
	eve.knows(bob, false)
	f := tempFile(t, "x.bin")
	for i := range MaxPendingPerPeer {
		o, err := eve.s.Send(ctx, bob.h.ID(), []string{f})
		if err != nil || o.State != StatePending {
			t.Fatalf("offer %d: %+v, %v", i, o, err)
		}
	}
	o, err := eve.s.Send(ctx, bob.h.ID(), []string{f})
	if err != nil || o.State != StateRefused || !strings.Contains(o.Reason, "waiting for the receiver's answer") {
		t.Fatalf("offer past the bound: %+v, %v", o, err)
	}
	if n := len(bob.s.Pending()); n != MaxPendingPerPeer {
		t.Fatalf("%d pending", n)
	}
	if _, err := bob.s.Decline(ctx, bob.s.Pending()[0].ID); err != nil {
		t.Fatal(err)
	}
	o, err = eve.s.Send(ctx, bob.h.ID(), []string{f})
	if err != nil || o.State != StatePending {
		t.Fatalf("offer after a decline: %+v, %v", o, err)
	}
}

// An offer sent again under the same id (the sender lost its stream)
// stays one waiting offer; once answered, it gets the same answer again.
func TestPendingReoffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ana, bob := newNode(t), newNode(t)
	ana.knows(bob, true)
	o, err := ana.s.Send(ctx, bob.h.ID(), []string{tempFile(t, "a.txt")})
	if err != nil || o.State != StatePending {
		t.Fatalf("send: %+v, %v", o, err)
	}
	o2 := o
	a, st, err := ana.s.offer(ctx, o2)
	if err != nil || !a.Pending {
		t.Fatalf("offer again: %+v, %v", a, err)
	}
	if n := len(bob.s.Pending()); n != 1 {
		t.Fatalf("%d pending after the same offer twice", n)
	}
	if _, err := bob.s.Decline(ctx, bob.s.Pending()[0].ID); err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(5 * time.Second))
	fin, err := readAnswer(st)
	st.Close()
	if err != nil || fin.Accepted || !strings.Contains(fin.Reason, "declined") {
		t.Fatalf("final answer on the newer stream: %+v, %v", fin, err)
	}
	a, _, err = ana.s.offer(ctx, o2)
	if err != nil || a.Pending || a.Accepted || !strings.Contains(a.Reason, "declined") {
		t.Fatalf("offer after the answer: %+v, %v", a, err)
	}
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(`{"accepted":true}`))
	f.Add([]byte(`{"pending":true}`))
	f.Add([]byte(`{"pending":true,"accepted":true}`))
	f.Add([]byte(`{"expired":true,"reason":"the receiver did not answer within 5m0s"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAnswer(b)
		if err != nil {
			return
		}
		if len(a.Reason) > 512 || (a.Pending && (a.Accepted || a.Expired)) {
			t.Fatalf("accepted answer %+v", a)
		}
	})
}
