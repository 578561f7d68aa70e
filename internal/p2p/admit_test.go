package p2p

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/peerlimit"
)

const admitProto = "/peerpath/test-admit/1.0.0"

// admitServer serves admitProto on a fresh loopback host through an
// Admission with cfg: it answers "ok:" and the request, after waiting for
// hold to close when the request is "hold".
type admitServer struct {
	h    host.Host
	a    *Admission
	hold chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// unhold lets every held request (and every later one) be answered.
func (s *admitServer) unhold() { s.once.Do(func() { close(s.hold) }) }

func newAdmitServer(t *testing.T, cfg AdmitConfig) *admitServer {
	t.Helper()
	h, err := NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &admitServer{h: h, a: NewAdmission(cfg), hold: make(chan struct{})}
	h.SetStreamHandler(admitProto, func(st network.Stream) {
		s.wg.Add(1)
		defer s.wg.Done()
		defer st.Close()
		req, release, ok := s.a.Admit(st)
		if !ok {
			return
		}
		defer release()
		if string(req) == "hold" {
			<-s.hold
		}
		_ = WriteMsg(st, append([]byte("ok:"), req...))
	})
	t.Cleanup(func() {
		s.unhold()
		h.Close()
		s.wg.Wait()
	})
	return s
}

func admitClient(t *testing.T, s *admitServer) host.Host {
	t.Helper()
	h, err := NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: s.h.ID(), Addrs: s.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return h
}

// ask opens a stream, sends req and returns the answer (nil and the error
// when the stream was reset or closed without one).
func ask(t *testing.T, c host.Host, s *admitServer, req string) ([]byte, error) {
	t.Helper()
	st := openAdmit(t, c, s)
	defer st.Close()
	if err := WriteMsg(st, []byte(req)); err != nil {
		return nil, err
	}
	return ReadMsg(st, 1024)
}

func openAdmit(t *testing.T, c host.Host, s *admitServer) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.NewStream(ctx, s.h.ID(), admitProto)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(15 * time.Second))
	return st
}

func baseAdmit() AdmitConfig {
	return AdmitConfig{Rate: 1000, Burst: 1000, Concurrent: 8, Deadline: 10 * time.Second, MaxRequest: 16, Busy: []byte("busy")}
}

func TestAdmitServesAndReleases(t *testing.T) {
	t.Parallel()
	s := newAdmitServer(t, baseAdmit())
	c := admitClient(t, s)
	for range 20 {
		got, err := ask(t, c, s, "hello")
		if err != nil || string(got) != "ok:hello" {
			t.Fatalf("answer %q, %v", got, err)
		}
	}
	// A request over MaxRequest is reset unanswered.
	if got, err := ask(t, c, s, "a request of more than sixteen bytes"); err == nil {
		t.Fatalf("oversized request answered %q", got)
	}
	waitHeld(t, s.a, 0)
}

func TestAdmitBusyWhenFull(t *testing.T) {
	t.Parallel()
	cfg := baseAdmit()
	cfg.Concurrent = 2
	s := newAdmitServer(t, cfg)
	c := admitClient(t, s)
	var held []network.Stream
	for range 2 {
		st := openAdmit(t, c, s)
		defer st.Close()
		if err := WriteMsg(st, []byte("hold")); err != nil {
			t.Fatal(err)
		}
		held = append(held, st)
	}
	waitHeld(t, s.a, 2)
	// A third is told busy at once, not left waiting.
	start := time.Now()
	got, err := ask(t, c, s, "x")
	if err != nil || string(got) != "busy" {
		t.Fatalf("third stream: %q, %v; want busy", got, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("busy answer took %s", d)
	}
	s.unhold()
	for _, st := range held {
		if got, err := ReadMsg(st, 1024); err != nil || string(got) != "ok:hold" {
			t.Fatalf("held stream: %q, %v", got, err)
		}
	}
	waitHeld(t, s.a, 0)
	if got, err := ask(t, c, s, "y"); err != nil || string(got) != "ok:y" {
		t.Fatalf("after release: %q, %v", got, err)
	}
}

func TestAdmitPerPeerSlots(t *testing.T) {
	t.Parallel()
	cfg := baseAdmit()
	cfg.Slots = &peerlimit.SlotLimits{PerPeer: 1}
	s := newAdmitServer(t, cfg)
	c1, c2 := admitClient(t, s), admitClient(t, s)
	st := openAdmit(t, c1, s)
	defer st.Close()
	if err := WriteMsg(st, []byte("hold")); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, s.a, 1)
	if got, err := ask(t, c1, s, "x"); err != nil || string(got) != "busy" {
		t.Fatalf("second stream of one peer: %q, %v; want busy", got, err)
	}
	// Another peer still gets in (it answers after the hold ends).
	st2 := openAdmit(t, c2, s)
	defer st2.Close()
	if err := WriteMsg(st2, []byte("z")); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadMsg(st2, 1024); err != nil || string(got) != "ok:z" {
		t.Fatalf("another peer: %q, %v", got, err)
	}
}

func TestAdmitRateResets(t *testing.T) {
	t.Parallel()
	cfg := baseAdmit()
	cfg.Rate, cfg.Burst = 0.01, 3
	s := newAdmitServer(t, cfg)
	c := admitClient(t, s)
	for i := range 3 {
		if got, err := ask(t, c, s, "x"); err != nil || string(got) != "ok:x" {
			t.Fatalf("request %d within the burst: %q, %v", i, got, err)
		}
	}
	if got, err := ask(t, c, s, "x"); err == nil {
		t.Fatalf("request over the rate answered %q", got)
	}
	// Another peer has its own bucket.
	if got, err := ask(t, admitClient(t, s), s, "x"); err != nil || string(got) != "ok:x" {
		t.Fatalf("another peer: %q, %v", got, err)
	}
	if !s.a.Allow(s.h.ID()) {
		t.Fatal("Allow refused a peer never seen")
	}
}

func TestAdmitIdleStreamClosed(t *testing.T) {
	t.Parallel()
	s := newAdmitServer(t, baseAdmit())
	c := admitClient(t, s)
	st := openAdmit(t, c, s)
	defer st.Close()
	if _, err := st.Write(nil); err != nil { // negotiate, send nothing
		t.Fatal(err)
	}
	start := time.Now()
	_ = st.SetReadDeadline(start.Add(FirstRequestTimeout + 5*time.Second))
	_, err := st.Read(make([]byte, 8))
	if err == nil || time.Since(start) > FirstRequestTimeout+4*time.Second {
		t.Fatalf("idle stream: %v after %s; want closed by the server within %s", err, time.Since(start), FirstRequestTimeout)
	}
	waitHeld(t, s.a, 0)
}

func waitHeld(t *testing.T, a *Admission, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.Held() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams held, want %d", a.Held(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
