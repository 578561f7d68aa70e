package searchsim

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// TestSimulateRealCI runs the real-announce simulation at CI size: 16 peers
// (8 under -race) join through 3 bootstrap peers and announce 12 files (6)
// each through the DHT; the probe queries must find 95% of the matching
// files, and the message counts must be those of DHT walks, not of
// flooding. Announcing is CPU bound (about 7 ms of CPU per keyword), hence
// the small sizes: scripts/test.sh runs it again without -race.
func TestSimulateRealCI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	res, err := SimulateReal(ctx, RealConfig{Peers: realCIPeers, FilesPerPeer: realCIFiles, Files: 2000, Queries: 20,
		Seed: 1, Dir: t.TempDir(), Logger: log, Timeout: 180 * time.Second, ProbeEvery: time.Second,
		// A loaded CI machine under -race can take seconds for one local
		// SQLite match while every peer announces.
		QueryTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if !res.Reached95 || res.FinalRecall < 0.95 {
		t.Errorf("recall %.3f, 95%% reached: %v", res.FinalRecall, res.Reached95)
	}
	if res.AnnounceTime == 0 || res.Announced < res.Keywords {
		t.Errorf("announced %d of %d keywords", res.Announced, res.Keywords)
	}
	if res.RoutingTableMean < float64(realCIPeers)/2 {
		t.Errorf("routing tables hold %.1f peers on average after bootstrap", res.RoutingTableMean)
	}
	if res.BootstrapMessages == 0 || res.AddProviders == 0 {
		t.Errorf("messages not counted: bootstrap %d, ADD_PROVIDER %d", res.BootstrapMessages, res.AddProviders)
	}
	// Every announcement is a walk (FIND_NODE, and the routing table's
	// checks of the peers it meets) and then stores its record at up to
	// k = 20 peers (ADD_PROVIDER), never more: a flood, or a walk that
	// repeats itself, would pass these bounds.
	maxAdd := float64(min(20, realCIPeers-1))
	if add := float64(res.AddProviders) / float64(res.Announced); add < 1 || add > maxAdd {
		t.Errorf("ADD_PROVIDER per announced keyword %.1f, want 1..%.0f", add, maxAdd)
	}
	if res.PerKeyword > 20+2*float64(realCIPeers-1) {
		t.Errorf("messages per announced keyword %.1f", res.PerKeyword)
	}
	if res.PerQuery <= 0 || res.PerQuery > 60 {
		t.Errorf("messages per query %.1f", res.PerQuery)
	}
}
