package deptest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// moduleGraph returns the module's package graph as `go list -deps`
// reports it: every package the module's packages import, transitively,
// with its direct non-test imports.
func moduleGraph(t *testing.T) Graph {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.CommandContext(ctx, goBin, "list", "-deps", "-json=ImportPath,Imports", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	g := Graph{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		g[p.ImportPath] = p.Imports
	}
	return g
}

// TestModule is the check itself: the module's real graph breaks no rule.
func TestModule(t *testing.T) {
	g := moduleGraph(t)
	n := 0
	for p := range g {
		if inModule(p) {
			n++
		}
	}
	// Guard against a check that proves nothing: the graph must hold the
	// module's packages, the daemon and the dependencies it links.
	if n < 20 {
		t.Fatalf("only %d module packages listed", n)
	}
	for _, p := range []string{Module + "/cmd/peerpath", Module + "/internal/node", "github.com/libp2p/go-libp2p/core/host"} {
		if _, ok := g[p]; !ok {
			t.Fatalf("%s missing from the graph", p)
		}
	}
	violations, unused := Check(g, Rules, LinkRules, Exceptions)
	for _, v := range violations {
		t.Error(v)
	}
	// A stale exception is harmless but should go; it is logged rather than
	// failed so that removing a forbidden import elsewhere never turns CI
	// red.
	for _, e := range unused {
		t.Logf("exception %s -> %s is no longer needed: delete it from deptest.Exceptions", e.From, e.To)
	}
}

// TestModuleWithForbiddenImport adds forbidden imports to a copy of the
// module's real graph and expects Check to report each of them.
func TestModuleWithForbiddenImport(t *testing.T) {
	real := moduleGraph(t)
	cases := []struct {
		from, to string
		want     string // a piece of the expected violation
	}{
		{"internal/ledger", "internal/compute", "services never import each other"},
		{"internal/market", "internal/search", "services never import each other"},
		{"internal/ledger", "internal/meter", "services never import each other"},
		{"internal/meter", "internal/transfer", "services never import each other"},
		{"internal/p2p", "internal/ledger", "foundations import no service"},
		{"cmd/peerpath", "internal/ledger", "the CLI reaches the daemon only through api"},
		{"api", "internal/content", "api is the local API's wire types"},
		{"internal/transfer", Mocknet, "mocknet is for tests and benchmarks"},
		{"internal/ledger", "internal/search/searchsim", "links internal/search/searchsim"},
		{"internal/market", "internal/ledger/ledgerbench", "production packages do not import test harnesses"},
		{"internal/node", "internal/compute/memcontent", "production packages do not import test harnesses"},
		{"internal/content", "net/http", "content is pure"},
		{"internal/share", "internal/node", "dependencies point downward only"},
	}
	for _, c := range cases {
		t.Run(c.from+"->"+c.to, func(t *testing.T) {
			g := maps.Clone(real)
			from := abs(c.from)
			if _, ok := g[from]; !ok {
				t.Fatalf("%s is not in the graph", from)
			}
			g[from] = append(slices.Clone(g[from]), abs(c.to))
			violations, _ := Check(g, Rules, LinkRules, Exceptions)
			found := false
			for _, v := range violations {
				if strings.Contains(v.String(), c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("adding %s -> %s: no violation mentions %q; got %v", c.from, c.to, c.want, violations)
			}
		})
	}
}

func TestCheckRules(t *testing.T) {
	m := func(p string) string { return Module + "/" + p }
	clean := Graph{
		m("cmd/peerpath"):              {m("api"), m("internal/node"), "github.com/spf13/cobra"},
		m("api"):                       {"net/http"},
		m("internal/node"):             {m("internal/ledger"), m("internal/market")},
		m("internal/market"):           {m("internal/ledger"), m("internal/p2p")},
		m("internal/ledger"):           {m("internal/p2p"), m("internal/store")},
		m("internal/p2p"):              {"github.com/libp2p/go-libp2p"},
		m("internal/store"):            nil,
		m("internal/search/searchsim"): {Mocknet, m("internal/p2p")},
		"github.com/libp2p/go-libp2p":  nil,
		Mocknet:                        {"github.com/libp2p/go-libp2p"},
	}
	if v, _ := Check(clean, Rules, LinkRules, nil); len(v) > 0 {
		t.Fatalf("clean graph: %v", v)
	}

	t.Run("service imports service", func(t *testing.T) {
		g := maps.Clone(clean)
		g[m("internal/ledger")] = append(slices.Clone(g[m("internal/ledger")]), m("internal/market"))
		v, _ := Check(g, Rules, LinkRules, nil)
		if !has(v, m("internal/ledger"), m("internal/market"), servicesApart) {
			t.Errorf("ledger -> market not reported: %v", v)
		}
	})

	t.Run("daemon links mocknet through a library", func(t *testing.T) {
		// node -> ledger -> a third-party package -> mocknet: no direct
		// edge from the module to mocknet, yet the daemon links it.
		g := maps.Clone(clean)
		g[m("internal/ledger")] = append(slices.Clone(g[m("internal/ledger")]), "example.com/lib")
		g["example.com/lib"] = []string{Mocknet}
		v, _ := Check(g, Rules, LinkRules, nil)
		var link *Violation
		for i := range v {
			if v[i].To == Mocknet && len(v[i].Path) > 0 {
				link = &v[i]
			}
		}
		if link == nil {
			t.Fatalf("mocknet link not reported: %v", v)
		}
		want := []string{m("cmd/peerpath"), m("internal/node"), m("internal/ledger"), "example.com/lib", Mocknet}
		if !slices.Equal(link.Path, want) {
			t.Errorf("path %v, want %v", link.Path, want)
		}
	})

	t.Run("exception", func(t *testing.T) {
		g := maps.Clone(clean)
		g[m("cmd/peerpath")] = append(slices.Clone(g[m("cmd/peerpath")]), m("internal/p2p"))
		v, _ := Check(g, Rules, LinkRules, nil)
		if !has(v, m("cmd/peerpath"), m("internal/p2p"), "") {
			t.Fatalf("cmd/peerpath -> p2p not reported without its exception: %v", v)
		}
		exc := []Exception{{From: "cmd/peerpath", To: "internal/p2p"}, {From: "internal/search", To: "internal/share"}}
		v, unused := Check(g, Rules, LinkRules, exc)
		if len(v) > 0 {
			t.Errorf("excepted import reported: %v", v)
		}
		if len(unused) != 1 || unused[0].From != "internal/search" {
			t.Errorf("unused exceptions %v, want search -> share", unused)
		}
	})

	t.Run("unplaced package", func(t *testing.T) {
		g := maps.Clone(clean)
		g[m("internal/newthing")] = nil
		v, _ := Check(g, Rules, LinkRules, nil)
		if !has(v, m("internal/newthing"), "", "has no layer") {
			t.Errorf("package without a layer not reported: %v", v)
		}
	})
}

// has reports whether vs holds a violation from -> to whose reason
// contains reason.
func has(vs []Violation, from, to, reason string) bool {
	for _, v := range vs {
		if v.From == from && v.To == to && strings.Contains(v.Reason, reason) {
			return true
		}
	}
	return false
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"internal/search/...", Module + "/internal/search", true},
		{"internal/search/...", Module + "/internal/search/searchsim", true},
		{"internal/search/...", Module + "/internal/searchy", false},
		{"internal/ledger", Module + "/internal/ledger/ledgerbench", false},
		{"internal/...", "internal/abi", false}, // the standard library's internal packages are not ours
		{"net", "net", true},
		{"net", "net/http", false},
		{"...", Module + "/cmd/peerpath", true},
		{"...", "github.com/libp2p/go-libp2p", false},
		{Mocknet + "/...", Mocknet, true},
	} {
		if got := match(c.pattern, c.pkg); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.pkg, got, c.want)
		}
	}
}
