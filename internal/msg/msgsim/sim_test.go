package msgsim

import (
	"context"
	"testing"
	"time"
)

// TestSimulateCI runs the three experiments at CI size and checks the
// issue's targets (online p50 ≤ 100 ms and p99 ≤ 1 s; offline: 99.9%
// within 10 s of the recipient's return; group: 99% within 2 s).
func TestSimulateCI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := Start(ctx, Config{Nodes: simNodes, Messages: simMessages, Seed: 1, PubSub: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	on, err := n.Online(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("online: %d/%d delivered, p50 %v p99 %v (first contact p50 %v p99 %v), states %v", on.Delivered, on.Messages,
		on.Quantile(0.5), on.Quantile(0.99), on.FirstQuantile(0.5), on.FirstQuantile(0.99), on.States)
	if on.Delivered != on.Messages || latencyAsserted && (on.Quantile(0.5) > 100*time.Millisecond || on.Quantile(0.99) > time.Second) {
		t.Errorf("online delivery misses its targets")
	}

	g, err := n.Group(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("group: %d/%d within 2 s, p99 %v", g.Within, g.Messages, g.Quantile(0.99))
	if g.Delivered != g.Messages || latencyAsserted && float64(g.Within) < 0.99*float64(g.Messages) {
		t.Errorf("group delivery misses its target")
	}

	off, err := n.Offline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offline: %d/%d within 10 s of return, p50 %v max %v, states %v", off.Within, off.Messages, off.Quantile(0.5), off.Quantile(1), off.States)
	if off.States["stored"] != off.Messages || off.Delivered != off.Messages || latencyAsserted && float64(off.Within) < 0.999*float64(off.Messages) {
		t.Errorf("offline delivery misses its target")
	}
}
