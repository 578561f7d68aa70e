package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/transfer"
)

func transferCmd() *cobra.Command {
	var (
		binPath  string
		size     int64
		dir      string
		tree     string
		treeOnly bool
	)
	c := &cobra.Command{
		Use:   "transfer",
		Short: "Share, one-source and three-source download speed of a random file, beside BLAKE3 and raw TCP",
		RunE: func(c *cobra.Command, _ []string) error {
			return runTransfer(c.Context(), binPath, size, dir, tree, treeOnly)
		},
	}
	c.Flags().StringVar(&binPath, "bin", "", "peerpath binary (default: build ./cmd/peerpath)")
	c.Flags().Int64Var(&size, "size", 1<<30, "file size in bytes")
	c.Flags().StringVar(&dir, "dir", "", "working folder (default: a temporary folder)")
	c.Flags().StringVar(&tree, "tree", "", "folder tree for the tree case (default: $(go env GOROOT)/src, else a generated tree of its shape)")
	c.Flags().BoolVar(&treeOnly, "tree-only", false, "run only the folder tree case")
	return c
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e6 }

func runTransfer(ctx context.Context, bin string, size int64, dir, tree string, treeOnly bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "peerpath-bench-transfer-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	bin, err = buildPeerpath(bin, dir)
	if err != nil {
		return err
	}
	if treeOnly {
		return runTree(ctx, bin, dir, tree)
	}
	src := filepath.Join(dir, "random.bin")
	if err := writeRandomFile(src, size); err != nil {
		return err
	}
	fmt.Printf("transfer: %d MiB random file, %d cores\n", size>>20, runtime.NumCPU())

	// (a) the limit: BLAKE3 of the file's 1 MiB chunks on all cores, in
	// this process; then peerpath share through a daemon.
	// Best of three, the file in the page cache as it is for sharing.
	hashDur := time.Duration(1<<63 - 1)
	for range 3 {
		t0 := time.Now()
		if err := parallelBLAKE3(src, 1<<20, runtime.NumCPU()); err != nil {
			return err
		}
		hashDur = min(hashDur, time.Since(t0))
	}

	ps, err := startDaemons(ctx, bin, dir, 4)
	defer stopDaemons(ps)
	if err != nil {
		return err
	}
	a, b, c, d := ps[0], ps[1], ps[2], ps[3]
	t0 := time.Now()
	sh, err := a.client.AddShare(ctx, src)
	if err != nil {
		return err
	}
	shareDur := time.Since(t0)
	fmt.Printf("(a) share/index       %7.0f MB/s   BLAKE3 on %d cores %7.0f MB/s   ratio %.2f (goal >= 0.80)\n",
		mbps(size, shareDur), runtime.NumCPU(), mbps(size, hashDur), hashDur.Seconds()/shareDur.Seconds())

	// (b) the limit: a plain TCP copy of the file into a file on loopback,
	// fsynced like a download; then one source.
	t0 = time.Now()
	if err := tcpCopy(src, filepath.Join(dir, "tcp.out")); err != nil {
		return err
	}
	tcpDur := time.Since(t0)
	os.Remove(filepath.Join(dir, "tcp.out"))

	get := func(cl *api.Client, out string) (time.Duration, api.GetResult, error) {
		t0 := time.Now()
		res, err := cl.Get(ctx, api.GetRequest{CID: sh.CID, Output: out}, nil)
		return time.Since(t0), res, err
	}
	// b fetches from a alone (b knows only a so far; c and d have nothing).
	cpu := startCPU(a, b)
	oneDur, res, err := get(b.client, filepath.Join(dir, "one.out"))
	if err != nil {
		return err
	}
	fmt.Printf("(b) one source        %7.0f MB/s   raw TCP copy      %7.0f MB/s   ratio %.2f (goal >= 0.50; %d peers sent)\n",
		mbps(size, oneDur), mbps(size, tcpDur), tcpDur.Seconds()/oneDur.Seconds(), res.Peers)
	cpu.print(size, "source", "receiver")

	// (c) three sources: a, b (seeding its copy) and c share the file; d fetches.
	if _, err := c.client.AddShare(ctx, src); err != nil {
		return err
	}
	for _, p := range []*proc{a, b, c} {
		id, err := p.client.ID(ctx)
		if err != nil {
			return err
		}
		if err := d.client.Connect(ctx, id.Addrs[0]); err != nil {
			return err
		}
	}
	cpu = startCPU(a, b, c, d)
	threeDur, res, err := get(d.client, filepath.Join(dir, "three.out"))
	if err != nil {
		return err
	}
	fmt.Printf("(c) three sources     %7.0f MB/s   one source        %7.0f MB/s   ratio %.2f (goal >= 1.00; %d peers sent)\n",
		mbps(size, threeDur), mbps(size, oneDur), oneDur.Seconds()/threeDur.Seconds(), res.Peers)
	cpu.print(size, "source", "source", "source", "receiver")
	fmt.Printf("    bytes received %d for a file of %d (%.1f%% duplicates)\n", res.Fetched, size, 100*float64(res.Fetched-size)/float64(size))
	stopDaemons(ps)
	ps = nil
	return runTree(ctx, bin, dir, tree)
}

// cpuSnap holds the CPU time of daemon processes at the start of a phase,
// to print the CPU each spent per byte moved: on two cores shared by all
// daemons, that (not wall time alone) shows where the cost is.
type cpuSnap struct {
	ps    []*proc
	start []time.Duration
	t0    time.Time
}

func startCPU(ps ...*proc) cpuSnap {
	s := cpuSnap{ps: ps, t0: time.Now()}
	for _, p := range ps {
		s.start = append(s.start, procCPU(p.cmd.Process.Pid))
	}
	return s
}

func (s cpuSnap) print(size int64, roles ...string) {
	fmt.Printf("    CPU per byte:")
	var total time.Duration
	for i, p := range s.ps {
		d := procCPU(p.cmd.Process.Pid) - s.start[i]
		total += d
		fmt.Printf("  %s %.2f ns/B", roles[i], float64(d)/float64(size))
	}
	fmt.Printf("  (all daemons %.2f ns/B, %.2f cores busy)\n", float64(total)/float64(size), total.Seconds()/time.Since(s.t0).Seconds())
}

// procCPU returns the user+system CPU time of process pid (Linux /proc;
// zero elsewhere).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the ")" that closes the command name: state is field 3,
	// utime and stime are fields 14 and 15, in clock ticks (100 a second).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func writeRandomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	for done := int64(0); done < size; {
		n := min(int64(len(buf)), size-done)
		rand.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		done += n
	}
	return f.Close()
}

// parallelBLAKE3 hashes the file's chunks with workers goroutines: the
// limit of what sharing can reach.
func parallelBLAKE3(path string, chunk int64, workers int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	n := (fi.Size() + chunk - 1) / chunk
	var next int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				k, err := f.ReadAt(buf, i*chunk)
				if err != nil && err != io.EOF {
					errc <- err
					return
				}
				_ = blake3.Sum256(buf[:k])
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// tcpCopy sends the file over a loopback TCP connection into out, and
// fsyncs it.
func tcpCopy(src, out string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		f, err := os.Open(src)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		// Plain read/write through a buffer, as a user-space copy (no
		// sendfile), like any protocol that looks at its bytes.
		_, err = io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{f}, make([]byte, 1<<20))
		errc <- err
	}()
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	// The same write discipline as a download: fsync every 32 MiB and drop
	// the synced pages from the cache, so the limit does not pay for
	// growing the page cache where the download does not.
	buf := make([]byte, 1<<20)
	for written := 0; ; {
		n, rerr := io.ReadFull(conn, buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return err
			}
			written += n
			if written%(32<<20) == 0 {
				if err := f.Sync(); err != nil {
					f.Close()
					return err
				}
				transfer.DropCache(f)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			f.Close()
			return rerr
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return <-errc
}
