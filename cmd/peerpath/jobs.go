package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

// parseBytes reads sizes such as 512, 64KiB, 256MiB, 1GB.
func parseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := uint64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 256MiB)", s)
	}
	return uint64(v * float64(mult)), nil
}

// bytesFlag is a pflag.Value for sizes.
type bytesFlag struct{ v *uint64 }

func (b *bytesFlag) String() string {
	if b.v == nil {
		return "0"
	}
	return strconv.FormatUint(*b.v, 10)
}
func (b *bytesFlag) Set(s string) error {
	v, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b.v = v
	return nil
}
func (b *bytesFlag) Type() string { return "size" }

func jobCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "job", Short: "Volunteer compute jobs: submit, watch, collect"}
	var (
		inputs      []string
		count       int
		args        []string
		memory      uint64
		timeout     time.Duration
		replication int
		quorum      int
		reward      string
	)
	submit := &cobra.Command{
		Use:   "submit MODULE.wasm",
		Short: "Submit a job: a WASI module run once per --input file (its stdin) or --count times",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			mod, err := os.ReadFile(a[0])
			if err != nil {
				return err
			}
			if (len(inputs) == 0) == (count == 0) {
				return errors.New("give either --input FILE… or --count N")
			}
			req := api.JobRequest{Module: mod, Count: count, Args: args, MemoryBytes: memory,
				Replication: replication, Quorum: quorum, Reward: reward}
			if timeout > 0 {
				req.Timeout = timeout.String()
			}
			for _, f := range inputs {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				req.Inputs = append(req.Inputs, b)
			}
			var out api.JobCreated
			if err := g.run(c, 5*time.Minute, func(ctx context.Context, cl *api.Client) (err error) {
				out, err = cl.SubmitJob(ctx, req)
				return err
			}); err != nil {
				return err
			}
			if g.json {
				return printJSON(c.OutOrStdout(), out)
			}
			fmt.Fprintf(c.OutOrStdout(), "job %s submitted; watch it with: peerpath job status %s\n", out.ID, out.ID)
			return nil
		},
	}
	submit.Flags().StringArrayVar(&inputs, "input", nil, "input file of one unit (repeatable)")
	submit.Flags().IntVar(&count, "count", 0, "number of units; unit i gets PEERPATH_UNIT=i and i as its last argument")
	submit.Flags().StringArrayVar(&args, "args", nil, "argument of every unit (repeatable)")
	submit.Flags().Var(&bytesFlag{&memory}, "memory", "memory cap of each unit (default 256MiB)")
	submit.Flags().DurationVar(&timeout, "timeout", 0, "wall-clock budget of each unit (default 60s)")
	submit.Flags().IntVar(&replication, "replication", 0, "workers per unit (default 2)")
	submit.Flags().IntVar(&quorum, "quorum", 0, "identical outputs that accept a unit (default 2)")
	submit.Flags().StringVar(&reward, "reward", "", "credits paid per validated unit to each matching worker")

	status := &cobra.Command{
		Use:   "status ID",
		Short: "Show a job's state, unit counts, workers, ETA and failure reasons",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			return query(g, c, 20*time.Second, func(cl *api.Client, ctx context.Context) (api.Job, error) { return cl.Job(ctx, a[0]) }, func(w io.Writer, j api.Job) error { return printJob(w, j, g.name) })
		},
	}
	var outDir string
	results := &cobra.Command{
		Use:   "results ID -o DIR",
		Short: "Write each validated unit's output to DIR/<unit index>.out",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			if outDir == "" {
				return errors.New("-o DIR is required")
			}
			var res api.JobResults
			if err := g.run(c, 5*time.Minute, func(ctx context.Context, cl *api.Client) (err error) {
				res, err = cl.JobResults(ctx, a[0])
				return err
			}); err != nil {
				return err
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			idx := make([]int, 0, len(res.Outputs))
			for i := range res.Outputs {
				idx = append(idx, i)
			}
			sort.Ints(idx)
			for _, i := range idx {
				if err := os.WriteFile(filepath.Join(outDir, strconv.Itoa(i)+".out"), res.Outputs[i], 0o644); err != nil {
					return err
				}
			}
			if g.json {
				return printJSON(c.OutOrStdout(), map[string]any{"id": res.ID, "units": len(idx), "dir": outDir})
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %d unit outputs to %s\n", len(idx), outDir)
			return nil
		},
	}
	results.Flags().StringVarP(&outDir, "output", "o", "", "folder to write the outputs to")
	cancelCmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			if err := g.run(c, 20*time.Second, func(ctx context.Context, cl *api.Client) error {
				_, err := cl.CancelJob(ctx, a[0])
				return err
			}); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), "cancelled", a[0])
			return nil
		},
	}
	c.AddCommand(submit, status, results, cancelCmd)
	return c
}

func jobsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "jobs",
		Short: "List this node's jobs",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).Jobs, printJobs)
		},
	}
}

func printJobs(w io.Writer, js []api.Job) error {
	if len(js) == 0 {
		fmt.Fprintln(w, "no jobs")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tUNITS\tVALIDATED\tFAILED\tCREATED")
	for _, j := range js {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", j.ID, j.State, j.Units, j.Validated, j.Failed, j.Created.Format(time.DateTime))
	}
	return tw.Flush()
}

func workerCmd(g *globals) *cobra.Command {
	var (
		cpus      int
		idleOnly  bool
		maxMemory uint64
	)
	c := &cobra.Command{
		Use:   "worker on|off",
		Short: "Lend this node's CPU to other peers' jobs (on), or stop (off); no argument shows the worker",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, a []string) error {
			if len(a) == 1 && a[0] != "on" && a[0] != "off" {
				return fmt.Errorf("want on or off, not %q", a[0])
			}
			var w api.Worker
			err := g.run(c, 20*time.Second, func(ctx context.Context, cl *api.Client) (err error) {
				if w, err = cl.Worker(ctx); err != nil || len(a) == 0 {
					return err
				}
				switch a[0] {
				case "on":
					w.Enabled = true
				case "off":
					w.Enabled = false
				}
				if c.Flags().Changed("cpus") {
					w.CPUs = cpus
				}
				if c.Flags().Changed("idle-only") {
					w.IdleOnly = idleOnly
				}
				if c.Flags().Changed("max-memory") {
					w.MaxMemory = maxMemory
				}
				req := api.Worker{Enabled: w.Enabled, CPUs: w.CPUs, IdleOnly: w.IdleOnly, MaxMemory: w.MaxMemory}
				w, err = cl.SetWorker(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(c.OutOrStdout(), w)
			}
			state := "off"
			if w.Enabled {
				state = "on"
				if w.Paused {
					state = "on (paused: the machine is busy)"
				}
			}
			fmt.Fprintf(c.OutOrStdout(), "worker %s, %d cpus, idle-only %v; %d running, %d completed, %d failed\n",
				state, max(w.CPUs, 1), w.IdleOnly, w.Running, w.Completed, w.Failed)
			return nil
		},
	}
	c.Flags().IntVar(&cpus, "cpus", 0, "units run at once")
	c.Flags().BoolVar(&idleOnly, "idle-only", false, "run units only while the machine is otherwise idle")
	c.Flags().Var(&bytesFlag{&maxMemory}, "max-memory", "refuse jobs whose units may use more memory (e.g. 512MiB; 0 = half the RAM shared by --cpus)")
	return c
}

func printJob(w io.Writer, j api.Job, name func(string) string) error {
	fmt.Fprintf(w, "job      %s\nstate    %s\nunits    %d: %d queued, %d running, %d validated, %d failed\n",
		j.ID, j.State, j.Units, j.Queued, j.Running, j.Validated, j.Failed)
	ws := make([]string, 0, len(j.Workers))
	for _, id := range j.Workers {
		ws = append(ws, name(id))
	}
	fmt.Fprintf(w, "workers  %d %s\n", len(j.Workers), strings.Join(ws, ", "))
	if j.ETASeconds > 0 {
		fmt.Fprintf(w, "eta      %s\n", (time.Duration(j.ETASeconds) * time.Second).String())
	}
	for _, r := range j.Reasons {
		fmt.Fprintf(w, "reason   %s\n", r)
	}
	return nil
}
