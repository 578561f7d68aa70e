package node

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) {
	// The node's sandbox runs units in children of this test binary.
	sandbox.ServeChild()
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

func testConfig() config.Config {
	cfg := config.Default()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.API = "127.0.0.1:0"
	cfg.NoMDNS = true
	return cfg
}

// Two in-process nodes start, connect, serve the API and shut down without
// leaving goroutines (checked by goleak in TestMain) or the api file.
func TestNodeLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	homeA, homeB := config.Home(t.TempDir()), config.Home(t.TempDir())

	a, err := New(ctx, Options{Home: homeA, Config: testConfig()})
	if err != nil {
		t.Fatal(err)
	}
	runA, stopA := context.WithCancel(ctx)
	doneA := make(chan error, 1)
	go func() { doneA <- a.Serve(runA) }()

	cfgB := testConfig()
	cfgB.Bootstrap = a.P2P().Addrs()
	b, err := New(ctx, Options{Home: homeB, Config: cfgB})
	if err != nil {
		t.Fatal(err)
	}
	runB, stopB := context.WithCancel(ctx)
	doneB := make(chan error, 1)
	go func() { doneB <- b.Serve(runB) }()

	// A second node on the same home is refused.
	if _, err := New(ctx, Options{Home: homeA, Config: testConfig()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second node on a home: %v, want ErrLocked", err)
	}

	cl := api.NewClient(b.APIURL(), b.Token())
	defer cl.CloseIdle()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ps, err := cl.Peers(ctx)
		if err == nil && len(ps) == 1 && ps[0].ID == a.ID().String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never saw a: %v %v", ps, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Serve writes the api file (with an fsync) right after starting the
	// API, so give it a moment.
	for {
		_, err := os.Stat(homeB.Path(config.FileAPI))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("api file missing while running: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	stopB()
	stopA()
	for _, done := range []chan error{doneA, doneB} {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return within 5s")
		}
	}
	if _, err := os.Stat(homeB.Path(config.FileAPI)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("api file left behind: %v", err)
	}
	// The lock is released: the home can be used again.
	c, err := New(ctx, Options{Home: homeA, Config: testConfig()})
	if err != nil {
		t.Fatalf("reopen after shutdown: %v", err)
	}
	c.close()
}
