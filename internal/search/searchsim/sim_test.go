package searchsim

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// TestSimulateCI runs the simulation at CI size and asserts the issue's
// targets.
func TestSimulateCI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	res, err := Simulate(ctx, Config{Peers: simCIPeers, Queries: 30, Seed: 1, Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Recall < 0.95 {
		t.Errorf("recall %.3f < 0.95", res.Recall)
	}
	if latencyAsserted && res.P95 > time.Second {
		t.Errorf("p95 %v > 1s", res.P95)
	}
	if res.ChurnRecall < 0.90 {
		t.Errorf("recall under churn %.3f < 0.90", res.ChurnRecall)
	}
	if res.Precision10 < 0.90 {
		t.Errorf("precision@10 with spammers %.3f < 0.90", res.Precision10)
	}
	// O(log N) DHT messages plus a bounded number of requests: at N = 50
	// about 17 are sent; flooding would send about 50.
	if res.MessagesPerQuery > 35 || res.DHTPerQuery > 25 {
		t.Errorf("messages per query %.1f (DHT %.1f)", res.MessagesPerQuery, res.DHTPerQuery)
	}
	if latencyAsserted && res.EmptyQueryDuration > time.Second {
		t.Errorf("a query nothing matches took %v", res.EmptyQueryDuration)
	}
	if n := len(res.SpamAnswersByRound); n < 3 || res.SpamAnswersByRound[n-1] > 0 {
		t.Errorf("spammers still accepted in the last round: %v", res.SpamAnswersByRound)
	}
}
