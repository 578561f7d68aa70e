package node

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/config"
)

// Bandwidth limits change while the node runs, show in its status, and are
// saved in its config file without disturbing the file's other keys.
func TestLimitsChangeAndPersist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	home := config.Home(t.TempDir())
	onFile := config.Default()
	onFile.NoSeed = true
	onFile.PricePerGiB = "0.5"
	if err := os.WriteFile(home.Path(config.FileConfig), config.Render(onFile), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New(ctx, Options{Home: home, Config: testConfig()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Serve(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	cl := api.NewClient(n.APIURL(), n.Token())
	defer cl.CloseIdle()

	if l, err := cl.Limits(ctx); err != nil || l != (api.Limits{}) {
		t.Fatalf("initial limits %+v %v, want unlimited", l, err)
	}
	up := int64(1 << 20)
	l, err := cl.SetLimits(ctx, api.LimitsRequest{MaxUpload: &up})
	if err != nil || l != (api.Limits{MaxUpload: up}) {
		t.Fatalf("set upload: %+v %v", l, err)
	}
	down := int64(3 << 20)
	l, err = cl.SetLimits(ctx, api.LimitsRequest{MaxDownload: &down})
	if err != nil || l != (api.Limits{MaxUpload: up, MaxDownload: down}) {
		t.Fatalf("set download keeps upload: %+v %v", l, err)
	}
	neg := int64(-5)
	_, err = cl.SetLimits(ctx, api.LimitsRequest{MaxUpload: &neg})
	var se *api.Error
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("negative limit: %v, want 400", err)
	}
	st, err := cl.Status(ctx)
	if err != nil || st.MaxUpload != up || st.MaxDownload != down {
		t.Fatalf("status limits %d/%d %v", st.MaxUpload, st.MaxDownload, err)
	}
	saved, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if saved.MaxUpload != up || saved.MaxDownload != down {
		t.Fatalf("saved limits %d/%d", saved.MaxUpload, saved.MaxDownload)
	}
	if !saved.NoSeed || saved.PricePerGiB != "0.5" {
		t.Fatalf("other keys lost: no_seed %v price %q", saved.NoSeed, saved.PricePerGiB)
	}
}

// Turning the worker on through the API is saved in the config file, so a
// restart keeps it.
func TestWorkerSettingsPersist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	home := config.Home(t.TempDir())
	if err := os.WriteFile(home.Path(config.FileConfig), config.Render(config.Default()), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New(ctx, Options{Home: home, Config: testConfig()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Serve(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	cl := api.NewClient(n.APIURL(), n.Token())
	defer cl.CloseIdle()
	if w, err := cl.SetWorker(ctx, api.Worker{Enabled: true, CPUs: 2, IdleOnly: true}); err != nil || !w.Enabled {
		t.Fatalf("worker on: %+v %v", w, err)
	}
	cfg, err := config.Load(home)
	if err != nil || !cfg.Worker || cfg.WorkerCPUs != 2 || !cfg.WorkerIdleOnly {
		t.Fatalf("config after worker on: %+v %v", cfg, err)
	}
}
