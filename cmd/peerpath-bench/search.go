package main

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/search/searchsim"
)

func searchCmd() *cobra.Command {
	var (
		sizes   []int
		files   int
		queries int
		seed    uint64
		verbose bool
		smart   bool
	)
	c := &cobra.Command{
		Use:   "search",
		Short: "Simulated search networks (mocknet, 20 ms links): recall, latency, messages per query, churn, spam",
		RunE: func(c *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if verbose {
				log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			out := c.OutOrStdout()
			var rs []searchsim.Result
			for _, n := range sizes {
				start := time.Now()
				r, err := searchsim.Simulate(c.Context(), searchsim.Config{Peers: n, Files: files, Queries: queries, Seed: seed, SmartSpam: smart, Logger: log})
				if err != nil {
					return fmt.Errorf("N=%d: %w", n, err)
				}
				rs = append(rs, r)
				printSearchResult(out, r, time.Since(start))
			}
			if len(rs) > 1 {
				first, last := rs[0], rs[len(rs)-1]
				ratio := last.MessagesPerQuery / first.MessagesPerQuery
				logRatio := math.Log(float64(last.Peers)) / math.Log(float64(first.Peers))
				fmt.Fprintf(out, "\nmessages/query N=%d -> N=%d: x%.2f; log N grows x%.2f, N grows x%.1f  (target: no faster than log N) %s\n",
					first.Peers, last.Peers, ratio, logRatio, float64(last.Peers)/float64(first.Peers), pass(ratio <= logRatio*1.1))
			}
			return nil
		},
	}
	c.Flags().IntSliceVar(&sizes, "sizes", []int{100, 300, 1000}, "network sizes N")
	c.Flags().IntVar(&files, "files", 50000, "catalogue size (file names, Zipf popularity)")
	c.Flags().IntVar(&queries, "queries", 50, "queries per phase")
	c.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	c.Flags().BoolVar(&smart, "smart-spam", false, "spammers evade canaries (answer only queries of real words)")
	c.Flags().BoolVar(&verbose, "verbose", false, "log progress to stderr")
	return c
}

func pass(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func printSearchResult(w io.Writer, r searchsim.Result, took time.Duration) {
	fmt.Fprintf(w, "N=%d (%d spammers in the spam phase), %d names, %d held; setup %v, run %v\n",
		r.Peers, r.Spammers, r.Files, r.Held, r.SetupTime.Round(time.Second), took.Round(time.Second))
	fmt.Fprintf(w, "  recall                   %6.1f%%   target >= 95%%   %s\n", 100*r.Recall, pass(r.Recall >= 0.95))
	fmt.Fprintf(w, "  latency p50              %6d ms\n", r.P50.Milliseconds())
	fmt.Fprintf(w, "  latency p95              %6d ms   target <= 1000 ms %s\n", r.P95.Milliseconds(), pass(r.P95 <= time.Second))
	fmt.Fprintf(w, "  messages/query           %6.1f     (DHT %.1f + asked %.1f + manifest checks)\n", r.MessagesPerQuery, r.DHTPerQuery, r.AskedPerQuery)
	fmt.Fprintf(w, "  no-match query           %6d ms\n", r.EmptyQueryDuration.Milliseconds())
	fmt.Fprintf(w, "  recall, 20%% churn        %6.1f%%   target >= 90%%   %s\n", 100*r.ChurnRecall, pass(r.ChurnRecall >= 0.90))
	fmt.Fprintf(w, "  precision@10, 30%% spam   %6.1f%%   target >= 90%%   %s  (first query per origin %.1f%%)\n",
		100*r.Precision10, pass(r.Precision10 >= 0.90), 100*r.Precision10First)
	fmt.Fprintf(w, "  recall with spammers     %6.1f%%;  spammer answers accepted per query by round %v; spammers flagged per origin %.0f\n",
		100*r.SpamRecall, r.SpamAnswersByRound, r.SpammersFlagged)
}
