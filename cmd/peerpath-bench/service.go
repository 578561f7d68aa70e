package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/tunnel"
)

func serviceCmd() *cobra.Command {
	var (
		size         int64
		conns, trips int
		interval     time.Duration
	)
	c := &cobra.Command{
		Use:   "service",
		Short: "A shared TCP service through the tunnel: bulk throughput beside a plain TCP copy, and added latency with many connections",
		RunE: func(c *cobra.Command, _ []string) error {
			return runService(c.Context(), size, conns, trips, interval)
		},
	}
	c.Flags().Int64Var(&size, "size", 1<<30, "bytes of the bulk copy")
	c.Flags().IntVar(&conns, "conns", 100, "concurrent connections of the latency test")
	c.Flags().IntVar(&trips, "trips", 200, "request/response round trips per connection")
	c.Flags().DurationVar(&interval, "interval", 10*time.Millisecond, "pause between one connection's requests in the paced latency test (the saturated test has none)")
	return c
}

// tcpServer serves each connection to a loopback listener with serve.
func tcpServer(serve func(net.Conn)) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); serve(c) })
		}
	})
	return ln.Addr().String(), func() { ln.Close(); wg.Wait() }, nil
}

// readAll reads a whole connection from addr and returns bytes and time.
func readAll(addr string) (int64, time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, make([]byte, 256<<10))
	return n, time.Since(start), err
}

// roundTrips runs conns connections at once, each doing trips 64-byte
// request/response exchanges with an echo service at addr, and returns
// every exchange's duration, sorted.
//
// With interval > 0 each connection sends a request every interval (its
// first after a random fraction of it, so that the connections' requests
// spread out); with 0 it sends the next as soon as the answer is in.
func roundTrips(addr string, conns, trips int, interval time.Duration) ([]time.Duration, error) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		wg   sync.WaitGroup
		errs = make(chan error, conns)
	)
	start := make(chan struct{})
	for range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			msg, back := make([]byte, 64), make([]byte, 64)
			// One exchange first, so the tunnel's stream is open
			// before timing starts.
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			if _, err := io.ReadFull(c, back); err != nil {
				errs <- err
				return
			}
			<-start
			ds := make([]time.Duration, 0, trips)
			var next time.Time
			if interval > 0 {
				next = time.Now().Add(rand.N(interval))
			}
			for range trips {
				if interval > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(interval)
				}
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, back); err != nil {
					errs <- err
					return
				}
				ds = append(ds, time.Since(t0))
			}
			mu.Lock()
			all = append(all, ds...)
			mu.Unlock()
		})
	}
	time.Sleep(500 * time.Millisecond) // every connection opened
	close(start)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	slices.Sort(all)
	return all, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func runService(ctx context.Context, size int64, conns, trips int, interval time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dir, err := os.MkdirTemp("", "peerpath-bench-service-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The service: a bulk writer of size bytes, and an echo.
	block := make([]byte, 1<<20)
	bulk, stopBulk, err := tcpServer(func(c net.Conn) {
		for left := size; left > 0; {
			n := min(left, int64(len(block)))
			if _, err := c.Write(block[:n]); err != nil {
				return
			}
			left -= n
		}
	})
	if err != nil {
		return err
	}
	defer stopBulk()
	echo, stopEcho, err := tcpServer(func(c net.Conn) { io.CopyBuffer(c, struct{ io.Reader }{c}, make([]byte, 4<<10)) })
	if err != nil {
		return err
	}
	defer stopEcho()

	// Owner and user: two loopback libp2p hosts (TCP, TLS, yamux) in this
	// process, each with a tunnel service.
	start := func(name string) (*tunnel.Service, host.Host, func(), error) {
		h, err := p2p.NewLoopbackHost(nil)
		if err != nil {
			return nil, nil, nil, err
		}
		s, err := tunnel.New(tunnel.Config{Host: h, Path: filepath.Join(dir, name+".json")})
		if err != nil {
			h.Close()
			return nil, nil, nil, err
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Serve(sctx); close(done) }()
		return s, h, func() { cancel(); <-done; h.Close() }, nil
	}
	owner, oh, stopOwner, err := start("owner")
	if err != nil {
		return err
	}
	defer stopOwner()
	user, uh, stopUser, err := start("user")
	if err != nil {
		return err
	}
	defer stopUser()
	if err := uh.Connect(ctx, peer.AddrInfo{ID: oh.ID(), Addrs: oh.Addrs()}); err != nil {
		return err
	}
	uid := uh.ID().String()
	if _, err := owner.Expose(ctx, "bulk", bulk, []string{uid}, 0); err != nil {
		return err
	}
	if _, err := owner.Expose(ctx, "echo", echo, []string{uid}, 0); err != nil {
		return err
	}
	fb, err := user.Connect(ctx, oh.ID().String(), "bulk", "")
	if err != nil {
		return err
	}
	fe, err := user.Connect(ctx, oh.ID().String(), "echo", "")
	if err != nil {
		return err
	}

	fmt.Printf("peerpath-bench service: %d MiB bulk copy; %d connections x %d round trips of 64 bytes; both ends in one process on loopback\n",
		size>>20, conns, trips)
	// Bulk: plain TCP first, then the tunnel, then plain TCP again (the
	// machine may be shared: the better plain figure is the limit).
	var plain, tun float64
	for i, addr := range []string{bulk, fb.Listen, bulk} {
		n, d, err := readAll(addr)
		if err != nil || n != size {
			return fmt.Errorf("bulk copy %d: %d of %d bytes: %v", i, n, size, err)
		}
		r := float64(n) / d.Seconds() / 1e9
		if i == 1 {
			tun = r
		} else {
			plain = max(plain, r)
		}
	}
	fmt.Printf("bulk   plain TCP loopback %.2f GB/s   through the tunnel %.2f GB/s   ratio %.2fx (goal >= 0.40x)\n", plain, tun, tun/plain)

	// Latency twice: paced (each connection sends a request every
	// interval, the goal's reading: 100 connections in use at once) and
	// saturated (no pause: it measures the queueing of 100 busy
	// connections on the machine's cores as much as the tunnel).
	modes := []struct {
		name     string
		interval time.Duration
	}{{fmt.Sprintf("paced, a request every %v per connection", interval), interval}, {"saturated, no pause", 0}}
	if interval <= 0 {
		modes = modes[1:]
	}
	for _, m := range modes {
		direct, err := roundTrips(echo, conns, trips, m.interval)
		if err != nil {
			return fmt.Errorf("latency, plain TCP: %w", err)
		}
		through, err := roundTrips(fe.Listen, conns, trips, m.interval)
		if err != nil {
			return fmt.Errorf("latency, tunnel: %w", err)
		}
		fmt.Printf("latency (%d connections, %s)\n", conns, m.name)
		for _, p := range []struct {
			name string
			q    float64
			goal float64
		}{{"p50", 0.50, 0.5}, {"p99", 0.99, 2}} {
			a, b := pct(direct, p.q), pct(through, p.q)
			fmt.Printf("  %s   plain TCP %.3f ms   through the tunnel %.3f ms   added %.3f ms (goal <= %.1f ms)\n",
				p.name, ms(a), ms(b), ms(b-a), p.goal)
		}
	}
	return nil
}
