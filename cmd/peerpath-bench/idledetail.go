package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// idleDetail prints where one idle daemon's resident memory is: the
// binary's pages against anonymous memory (/proc/PID/smaps), and the Go
// runtime's view of the anonymous part (heap in use, stacks, goroutines,
// from the daemon's /debug/pprof). With profDir it also saves the heap
// profile there.
func idleDetail(p *proc, i int, bin, profDir string) error {
	pid := p.cmd.Process.Pid
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return err
	}
	defer f.Close()
	abs, _ := filepath.Abs(bin)
	var binKB, anonKB, otherKB int64
	// The binary's pages by mapping: r-x is its text, r-- its read-only
	// data and function tables (pclntab), rw- its data.
	binBy := map[string]int64{}
	var path, perms string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if !strings.HasSuffix(fs[0], ":") || strings.Contains(fs[0], "-") {
			// A mapping's header: range perms offset dev inode [path].
			path, perms = "", ""
			if len(fs) >= 2 {
				perms = fs[1]
			}
			if len(fs) >= 6 {
				path = fs[5]
			}
			continue
		}
		if fs[0] != "Rss:" || len(fs) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fs[1], 10, 64)
		switch {
		case path == abs:
			binKB += kb
			binBy[perms] += kb
		case path == "" || strings.HasPrefix(path, "["):
			anonKB += kb
		default:
			otherKB += kb
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	addr, _ := os.ReadFile(filepath.Join(p.home, "api"))
	tok, _ := os.ReadFile(filepath.Join(p.home, "api-token"))
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequest("GET", "http://"+strings.TrimPrefix(strings.TrimSpace(string(addr)), "http://")+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %s", path, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	heap, err := get("/debug/pprof/heap?debug=1")
	if err != nil {
		return err
	}
	ms := map[string]string{}
	for _, l := range strings.Split(string(heap), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "# "), " = "); ok && strings.HasPrefix(l, "# ") {
			ms[k] = v
		}
	}
	mb := func(k string) string {
		n, _ := strconv.ParseFloat(ms[k], 64)
		return fmt.Sprintf("%.1f", n/1e6)
	}
	gr, err := get("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(gr), "\n")
	stack, _, _ := strings.Cut(ms["Stack"], " ")
	ms["Stack"] = stack
	fmt.Printf("    daemon %d: binary %.1f MB (text %.1f, read-only data and function tables %.1f, data %.1f), anonymous %.1f MB, other files %.1f MB; Go: heap in use %s MB (live %s MB), stacks %s MB, GC metadata %s MB, other runtime %s MB, from the OS %s MB; goroutines %s\n",
		i+1, float64(binKB)*1024/1e6, float64(binBy["r-xp"])*1024/1e6, float64(binBy["r--p"])*1024/1e6, float64(binBy["rw-p"])*1024/1e6,
		float64(anonKB)*1024/1e6, float64(otherKB)*1024/1e6,
		mb("HeapInuse"), mb("HeapAlloc"), mb("Stack"), mb("GCSys"), mb("OtherSys"), mb("Sys"), strings.TrimPrefix(first, "goroutine profile: total "))
	if profDir != "" {
		b, err := get("/debug/pprof/heap")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(profDir, fmt.Sprintf("heap-%d.pprof", i+1)), b, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(profDir, fmt.Sprintf("goroutine-%d.txt", i+1)), gr, 0o644); err != nil {
			return err
		}
	}
	return nil
}
