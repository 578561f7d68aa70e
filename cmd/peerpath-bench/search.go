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
		realAnn bool
		perPeer int
		timeout time.Duration
		rateF   float64
		k       int
		alpha   int
		folder  string
		bin     string
		daemons int
		samples int
		par     int
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
			if folder != "" {
				tmp, err := os.MkdirTemp("", "pp-bin-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				if bin, err = buildPeerpath(bin, tmp); err != nil {
					return err
				}
				return runSearchable(c.Context(), out, bin, folder, daemons, samples, par, timeout)
			}
			if realAnn {
				return runRealAnnounce(c, out, log, sizes, searchsim.RealConfig{FilesPerPeer: perPeer, Files: files,
					Queries: queries, Seed: seed, Timeout: timeout, AnnounceRate: rateF, BucketSize: k, Alpha: alpha})
			}
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
	c.Flags().BoolVar(&realAnn, "real-announce", false, "peers bootstrap and announce for real (no table or record filled from outside): time until 95% recall, messages per announced file and per query")
	c.Flags().IntVar(&perPeer, "files-per-peer", 1000, "with --real-announce: files each peer shares")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --real-announce: longest announce phase")
	c.Flags().Float64Var(&rateF, "announce-rate", 0, "with --real-announce: keyword announcements per second per peer (0: the daemon's default)")
	c.Flags().IntVar(&k, "k", 0, "with --real-announce: DHT bucket size (0: kad-dht's default, as the daemon)")
	c.Flags().IntVar(&alpha, "alpha", 0, "with --real-announce: DHT lookup concurrency (0: kad-dht's default, as the daemon)")
	c.Flags().StringVar(&folder, "folder", "", "real daemons on loopback: share this folder on one and measure how soon its file names are found from another (for example /usr/share/doc); --timeout bounds it")
	c.Flags().StringVar(&bin, "bin", "", "with --folder: peerpath binary (default: build ./cmd/peerpath)")
	c.Flags().IntVar(&daemons, "daemons", 5, "with --folder: daemons in the network")
	c.Flags().IntVar(&samples, "samples", 40, "with --folder: file names sampled")
	c.Flags().IntVar(&par, "parallel", 3, "with --folder: searches at a time")
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

func runRealAnnounce(c *cobra.Command, out io.Writer, log *slog.Logger, sizes []int, cfg searchsim.RealConfig) error {
	cfg.Logger = log
	for _, n := range sizes {
		cfg.Peers = n
		r, err := searchsim.SimulateReal(c.Context(), cfg)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		fmt.Fprintf(out, "N=%d real announce, %d files per peer (%d distinct held), %d keyword announcements to make; %v in all, heap after bootstrap %.0f MB, memory from the OS %.0f MB\n",
			r.Peers, r.FilesPerPeer, r.Held, r.Keywords, r.Total.Round(time.Second), r.HeapMB, r.SysMB)
		fmt.Fprintf(out, "  bootstrap                %6v   %d DHT messages (%.0f per peer), routing table %.1f peers\n",
			r.BootstrapTime.Round(100*time.Millisecond), r.BootstrapMessages, float64(r.BootstrapMessages)/float64(r.Peers), r.RoutingTableMean)
		reached := "not reached within the timeout"
		if r.Reached95 {
			reached = r.TimeTo95.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(out, "  time until 95%% recall    %s   target <= 60 s %s\n", reached, pass(r.Reached95 && r.TimeTo95 <= time.Minute))
		ann := "not finished within the timeout"
		if r.AnnounceTime > 0 {
			ann = r.AnnounceTime.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(out, "  every keyword announced  %s   (%d of %d)\n", ann, r.Announced, r.Keywords)
		fmt.Fprintf(out, "  messages/announced file  %6.1f     (%.1f per keyword announcement; %d ADD_PROVIDER of %d)\n",
			r.PerFile, r.PerKeyword, r.AddProviders, r.AnnounceMsgs)
		fmt.Fprintf(out, "  messages/query           %6.1f     (DHT %.1f + asked %.1f + manifest checks), recall at the end %.1f%%; %d probe queries ran out of time\n",
			r.PerQuery, r.DHTPerQuery, r.AskedPerQuery, 100*r.FinalRecall, r.QueriesTimedOut)
		fmt.Fprintf(out, "  recall by time          ")
		for _, p := range r.Curve {
			fmt.Fprintf(out, " %v:%.0f%%", p.At.Round(time.Second), 100*p.Recall)
		}
		fmt.Fprintln(out)
	}
	return nil
}
