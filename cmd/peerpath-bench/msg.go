package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/msg/msgsim"
)

func msgCmd() *cobra.Command {
	var (
		nodes, online, offline, group int
		churn                         float64
		seed                          uint64
		verbose                       bool
	)
	c := &cobra.Command{
		Use:   "msg",
		Short: "Simulated messaging (mocknet, 20 ms links): online latency, offline delivery through mailboxes under churn, 100-member groups",
		RunE: func(c *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if verbose {
				log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			out := c.OutOrStdout()
			start := time.Now()
			n, err := msgsim.Start(c.Context(), msgsim.Config{Nodes: nodes, Messages: online, Churn: churn, Seed: seed, PubSub: group > 0, Logger: log})
			if err != nil {
				return err
			}
			defer n.Close()
			fmt.Fprintf(out, "network: %d nodes, 20 ms links, every bundle on 3 mailboxes after %s\n", nodes, time.Since(start).Round(time.Millisecond))
			if online > 0 {
				r, err := n.Online(c.Context())
				if err != nil {
					return fmt.Errorf("online: %w", err)
				}
				p50, p99 := r.Quantile(0.5), r.Quantile(0.99)
				fmt.Fprintf(out, "online: %d/%d delivered; p50 %s (limit 100ms, ratio %.2f) %s; p99 %s (limit 1s, ratio %.2f) %s; first message of a pair (X3DH): p50 %s p99 %s\n",
					r.Delivered, r.Messages, p50.Round(time.Millisecond), float64(p50)/float64(100*time.Millisecond), pass(p50 <= 100*time.Millisecond),
					p99.Round(time.Millisecond), float64(p99)/float64(time.Second), pass(p99 <= time.Second),
					r.FirstQuantile(0.5).Round(time.Millisecond), r.FirstQuantile(0.99).Round(time.Millisecond))
			}
			if group > 0 {
				r, err := groupRun(c, n, group)
				if err != nil {
					return fmt.Errorf("group: %w", err)
				}
				share := float64(r.Within) / float64(max(r.Messages, 1))
				fmt.Fprintf(out, "group: %d members, %d deliveries expected, %d within 2 s = %.2f%% (limit ≥ 99%%) %s; p50 %s p99 %s\n",
					min(100, nodes), r.Messages, r.Within, 100*share, pass(share >= 0.99), r.Quantile(0.5).Round(time.Millisecond), r.Quantile(0.99).Round(time.Millisecond))
			}
			if offline > 0 {
				r, err := offlineRun(c, n, offline)
				if err != nil {
					return fmt.Errorf("offline: %w", err)
				}
				share := float64(r.Within) / float64(max(r.Messages, 1))
				fmt.Fprintf(out, "offline: %d messages, %.0f%% of nodes churning, senders offline too; stored %d; arrived %d; within 10 s of the recipient's return %d = %.3f%% (limit ≥ 99.9%%) %s; p50 %s p99 %s max %s\n",
					r.Messages, 100*churn, r.States["stored"], r.Delivered, r.Within, 100*share, pass(share >= 0.999),
					r.Quantile(0.5).Round(time.Millisecond), r.Quantile(0.99).Round(time.Millisecond), r.Quantile(1).Round(time.Millisecond))
				if r.States["error"] > 0 {
					fmt.Fprintf(out, "offline: %d sends failed (counted as missed), the first: %s\n", r.States["error"], r.FirstError)
				}
			}
			fmt.Fprintf(out, "took %s\n", time.Since(start).Round(time.Second))
			return nil
		},
	}
	c.Flags().IntVar(&nodes, "nodes", 100, "network size")
	c.Flags().IntVar(&online, "online", 1000, "online messages (0: skip)")
	c.Flags().IntVar(&offline, "offline", 10000, "offline messages (0: skip)")
	c.Flags().IntVar(&group, "group", 100, "group messages to a group of min(100, nodes) (0: skip)")
	c.Flags().Float64Var(&churn, "churn", 0.3, "share of nodes churning in the offline run")
	c.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	c.Flags().BoolVar(&verbose, "verbose", false, "log to stderr")
	return c
}

func groupRun(c *cobra.Command, n *msgsim.Net, messages int) (msgsim.Result, error) {
	n.SetMessages(messages)
	return n.Group(c.Context())
}

func offlineRun(c *cobra.Command, n *msgsim.Net, messages int) (msgsim.Result, error) {
	n.SetMessages(messages)
	return n.Offline(c.Context())
}
