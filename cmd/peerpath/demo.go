package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/node"
)

func demoCmd(g *globals) *cobra.Command {
	var peers int
	var logLevel string
	var noSamples bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Start a small network of peers on this machine (loopback) and keep it running until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if peers < 1 || peers > 32 {
				return errors.New("--peers must be between 1 and 32")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, c, peers, logLevel, !noSamples)
		},
	}
	c.Flags().IntVar(&peers, "peers", 4, "number of peers to start")
	c.Flags().StringVar(&logLevel, "log-level", "warn", "log level of the peers")
	c.Flags().BoolVar(&noSamples, "no-samples", false, "start the peers without sample files, ledger and job")
	return c
}

// runDemo starts n nodes in this process, each with its own home under one
// temporary folder, all bootstrapped from the first. It removes the folder
// when it returns.
func runDemo(ctx context.Context, c *cobra.Command, n int, logLevel string, samples bool) (err error) {
	dir, err := os.MkdirTemp("", "peerpath-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	log := newLogger(c.ErrOrStderr(), logLevel, "text")
	out := c.OutOrStdout()
	fmt.Fprintf(out, "peerpath demo: %d peers in %s\n", n, dir)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		nodes []*node.Node
		errc  = make(chan error, n)
	)
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range n {
		home := config.Home(filepath.Join(dir, fmt.Sprintf("peer%d", i+1)))
		cfg := config.Default()
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		cfg.API = "127.0.0.1:0"
		cfg.NoMDNS = true
		if i == 0 {
			cfg.LedgerVoter = true
		} else {
			cfg.Bootstrap = nodes[0].P2P().Addrs()
			cfg.LedgerVoters = []string{nodes[0].ID().String()}
			cfg.Worker = true
		}
		nd, err := node.New(ctx, node.Options{Home: home, Config: cfg, Logger: log.With("peer", i+1), Version: versionString()})
		if err != nil {
			return fmt.Errorf("demo: starting peer %d: %w", i+1, err)
		}
		nodes = append(nodes, nd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := nd.Serve(ctx); err != nil {
				errc <- err
			}
		}()
	}
	for i, nd := range nodes {
		home := filepath.Join(dir, fmt.Sprintf("peer%d", i+1))
		fmt.Fprintf(out, "peer %d  %s  api %s  home %s\n", i+1, nd.ID(), nd.APIURL(), home)
	}
	if samples {
		demoSamples(ctx, out, dir, nodes)
	}
	fmt.Fprintf(out, "\nopen the web app (one-time link, valid 10 minutes):\n  %s\n", nodes[0].LoginURL())
	fmt.Fprintf(out, "a new link any time:  go run ./cmd/peerpath --home %s ui --print-url\n", filepath.Join(dir, "peer1"))
	fmt.Fprintf(out, "or the CLI:           go run ./cmd/peerpath --home %s search beatles\n", filepath.Join(dir, "peer1"))
	fmt.Fprintf(out, "peer 1's downloads go to %s; the peers log to this terminal (--log-level info for more)\n", filepath.Join(dir, "peer1", "downloads"))
	fmt.Fprintln(out, "demo ready; press Ctrl-C to stop")

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	fmt.Fprintln(out, "stopping demo…")
	stopped := make(chan struct{})
	go func() { cancel(); wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		return errors.New("demo: peers did not stop within 10s")
	}
	fmt.Fprintln(out, "demo stopped")
	return nil
}
