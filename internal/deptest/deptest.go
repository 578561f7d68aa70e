// Package deptest keeps the layering of docs/architecture.md honest. It
// holds, as data, the imports that must never exist (Rules), the packages
// the daemon must never link (LinkRules) and the few forbidden imports that
// still exist today (Exceptions, each with what removes it), and Check,
// which finds every violation in a package graph. Its test runs Check over
// the graph `go list -deps` reports for the whole module, so CI fails on a
// forbidden import, and over made-up graphs, to show that Check does.
//
// In the style of Tailscale's tstest/deptest: a list of things that must not
// happen, each with its reason, rather than a list of what is allowed.
// Only non-test imports count: a _test.go file may import anything.
package deptest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Module is peerpath's module path.
const Module = "github.com/peerpath/peerpath"

// Mocknet is go-libp2p's in-memory network, for simulations and tests.
const Mocknet = "github.com/libp2p/go-libp2p/p2p/net/mock"

// Graph maps a package's import path to the import paths of its direct,
// non-test imports (the Imports of `go list -json`). Packages outside the
// module may be present; Rules apply to module packages, LinkRules follow
// every edge.
type Graph map[string][]string

// Rule forbids direct imports: no package matching From (and not Exempt)
// may import a package matching To (unless it matches Allow). Patterns are
// import paths, relative to Module when they do not start with a domain;
// a pattern ending in "/..." matches that package and every package below.
type Rule struct {
	From, Exempt []string
	To, Allow    []string
	Reason       string
}

// LinkRule forbids a binary to link a package by any path of imports.
type LinkRule struct {
	Root   string
	To     []string
	Reason string
}

// Exception is a forbidden direct import that exists today and is tolerated
// until the work named in Reason removes it. Check reports exceptions that
// are no longer used, so the list only shrinks.
type Exception struct {
	From, To string
	Reason   string
}

// Violation is one forbidden import Check found.
type Violation struct {
	From, To string
	// Path is, for a LinkRule, the chain of imports from its Root to To.
	Path   []string
	Reason string
}

func (v Violation) String() string {
	if len(v.Path) > 0 {
		short := make([]string, len(v.Path))
		for i, p := range v.Path {
			short[i] = rel(p)
		}
		return fmt.Sprintf("%s links %s (%s): %s", rel(v.From), rel(v.To), strings.Join(short, " -> "), v.Reason)
	}
	if v.To == "" {
		return fmt.Sprintf("%s: %s", rel(v.From), v.Reason)
	}
	return fmt.Sprintf("%s imports %s: %s", rel(v.From), rel(v.To), v.Reason)
}

// Services are the packages of DESIGN.md's service layer. Each owns its
// subtree (a service's harness, such as internal/search/searchsim, belongs
// to it).
var Services = []string{
	"internal/share/...",
	"internal/transfer/...",
	"internal/search/...",
	"internal/compute/...",
	"internal/ledger/...",
	"internal/meter/...",
	"internal/market/...",
	"internal/msg/...",
	"internal/tunnel/...",
	"internal/storage/...",
	"internal/backup/...",
	"internal/publish/...",
	"internal/contacts/...",
	"internal/inbox/...",
	"internal/policy/...",
}

// Foundations are the packages below the services.
var Foundations = []string{
	"internal/p2p/...",
	"internal/content/...",
	"internal/store/...",
	"internal/peerlimit/...",
	"internal/cputime/...",
	"internal/events/...",
}

// Harnesses are the packages that exist for tests and benchmarks only:
// simulations, in-memory clusters, conformance suites, benchmark drivers.
// They may use mocknet; the daemon links none of them.
var Harnesses = []string{
	"internal/search/searchsim/...",            // the search simulation (mocknet)
	"internal/msg/msgsim/...",                  // the messages simulation (mocknet)
	"internal/ledger/ledgerbench/...",          // the ledger benchmark (voters on loopback)
	"internal/compute/computetest/...",         // compute.Content's conformance suite
	"internal/compute/computebench/...",        // the compute benchmark (loopback nodes)
	"internal/compute/memcontent/...",          // an in-memory compute.Content network
	"internal/compute/sandbox/sandboxtest/...", // builds wasm programs for sandbox tests
	"internal/testutil/...",                    // shared test helpers
	"internal/deptest/...",                     // this package
	"cmd/peerpath-bench/...",                   // benchmark driver
	"examples/...",                             // example jobs and their test runner
	"test/...",                                 // real-daemon harness, e2e and attack tests
}

// upper are the layers above the services.
var upper = []string{"internal/httpapi/...", "internal/webui/...", "internal/node/..."}

func serviceRule(self string, allow []string, reason string) Rule {
	var to []string
	for _, s := range Services {
		if s != self {
			to = append(to, s)
		}
	}
	return Rule{From: []string{self}, To: to, Allow: allow, Reason: reason}
}

const servicesApart = "services never import each other (except market -> ledger and meter -> ledger): each declares the small interfaces it needs and node wires them"

// Rules are the imports that must never exist.
var Rules = []Rule{
	serviceRule("internal/share/...", nil, servicesApart),
	serviceRule("internal/transfer/...", nil, servicesApart),
	serviceRule("internal/search/...", nil, servicesApart),
	serviceRule("internal/compute/...", nil, servicesApart),
	serviceRule("internal/ledger/...", nil, servicesApart),
	serviceRule("internal/msg/...", nil, servicesApart),
	serviceRule("internal/meter/...", []string{"internal/ledger"},
		servicesApart+"; meter may import ledger because a traffic receipt carries a signed ledger transfer as its payment, which the meter settles"),
	serviceRule("internal/market/...", []string{"internal/ledger"},
		servicesApart+"; market may import ledger because escrow lives in the ledger's state machine"),
	serviceRule("internal/tunnel/...", nil, servicesApart),
	serviceRule("internal/storage/...", nil, servicesApart),
	serviceRule("internal/backup/...", nil, servicesApart),
	serviceRule("internal/publish/...", nil, servicesApart),
	serviceRule("internal/contacts/...", nil, servicesApart),
	serviceRule("internal/inbox/...", nil, servicesApart),
	serviceRule("internal/policy/...", nil, servicesApart),
	{
		From:   []string{"cmd/peerpath"},
		To:     []string{"internal/..."},
		Allow:  []string{"internal/node", "internal/config", "internal/compute/sandbox"},
		Reason: "the CLI reaches the daemon only through api; it may build the daemon (node), read its config, and serve as the sandbox's child process (sandbox.ServeChild)",
	},
	{
		From:   []string{"..."},
		Exempt: Harnesses,
		To:     []string{Mocknet + "/..."},
		Reason: "mocknet is for tests and benchmarks: a simulation lives in a harness package beside its service, so the daemon does not link it",
	},
	{
		From:   Foundations,
		To:     append(slices.Clone(Services), upper...),
		Reason: "foundations import no service and nothing above the services",
	},
	{
		From:   []string{"internal/..."},
		Exempt: Harnesses,
		To:     Harnesses,
		Reason: "production packages do not import test harnesses",
	},
	{
		From:   []string{"api/..."},
		To:     []string{"internal/..."},
		Reason: "api is the local API's wire types and Go client, used by the CLI, the web app and the tests; it must not pull the daemon in",
	},
	{
		From:   []string{"internal/content/..."},
		To:     []string{"net", "net/http", "database/sql", "internal/store/...", "internal/p2p/..."},
		Reason: "content is pure: ids, chunking and manifests, no network and no database",
	},
}

// LinkRules are the packages a binary must never link.
var LinkRules = []LinkRule{{
	Root:   "cmd/peerpath",
	To:     append([]string{Mocknet + "/..."}, Harnesses...),
	Reason: "the daemon links no simulation, test harness or benchmark",
}}

// Exceptions are the forbidden imports that still exist; each goes with
// the renovation of issue 12 named in its reason.
var Exceptions = []Exception{
	{From: "internal/search", To: "internal/share",
		Reason: "search's Catalog lists share.FileEntry; goes when share changes reach search through a callback over a type search declares"},
	{From: "internal/search/searchsim", To: "internal/share",
		Reason: "the simulation builds search Catalogs of share.FileEntry; goes with the exception above"},
	{From: "cmd/peerpath", To: "internal/p2p",
		Reason: "`peerpath swarm-key` calls p2p.NewSwarmKey to write a private-network key offline; goes when the CLI gets the key through node or api"},
}

// layer gives each module package's rank: a package may import only
// packages of a lower rank, or of its own rank where Check allows (inside
// the services' rank, which the service rules above narrow, and the rank of
// binaries and tests). -1 means unknown: Check reports it, so a new package
// must be placed.
func layer(pkg string) int {
	p := strings.TrimPrefix(pkg, Module+"/")
	switch {
	case p == "api", p == "internal/content", p == "internal/store", p == "internal/config", p == "internal/testutil", p == "internal/peerlimit", p == "internal/cputime", p == "internal/events":
		return 0
	case p == "internal/p2p":
		return 1
	case under(p, "internal/share"), under(p, "internal/transfer"), under(p, "internal/search"),
		under(p, "internal/compute"), under(p, "internal/ledger"), under(p, "internal/meter"), under(p, "internal/market"),
		under(p, "internal/msg"), under(p, "internal/tunnel"),
		under(p, "internal/storage"), under(p, "internal/backup"), under(p, "internal/publish"),
		under(p, "internal/contacts"), under(p, "internal/inbox"), under(p, "internal/policy"):
		return 2
	case under(p, "internal/httpapi"), under(p, "internal/webui"):
		return 3
	case p == "internal/node":
		return 4
	case under(p, "cmd"), under(p, "test"), under(p, "examples"), under(p, "internal/deptest"):
		return 5
	}
	return -1
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// abs turns a pattern into a full import path pattern. Patterns whose
// first element is internal, cmd, test, examples or api, and "...", are
// relative to Module; any other is a standard library package ("net",
// "database/sql") or another module's, named in full.
func abs(pattern string) string {
	if pattern == "..." {
		return Module + "/..."
	}
	first, _, _ := strings.Cut(pattern, "/")
	switch first {
	case "internal", "cmd", "test", "examples", "api":
		return Module + "/" + pattern
	}
	return pattern
}

func match(pattern, pkg string) bool {
	pattern = abs(pattern)
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func matchAny(patterns []string, pkg string) bool {
	for _, p := range patterns {
		if match(p, pkg) {
			return true
		}
	}
	return false
}

func rel(pkg string) string { return strings.TrimPrefix(pkg, Module+"/") }

func inModule(pkg string) bool { return pkg == Module || strings.HasPrefix(pkg, Module+"/") }

// Check returns every violation in g of rules, links and the layer ranks,
// leaving out the direct imports listed in exceptions, and the exceptions
// that matched nothing (stale: delete them). Results are sorted.
func Check(g Graph, rules []Rule, links []LinkRule, exceptions []Exception) (violations []Violation, unused []Exception) {
	used := make([]bool, len(exceptions))
	excepted := func(from, to string) bool {
		for i, e := range exceptions {
			if abs(e.From) == from && abs(e.To) == to {
				used[i] = true
				return true
			}
		}
		return false
	}
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, from := range pkgs {
		if !inModule(from) {
			continue
		}
		imports := slices.Clone(g[from])
		sort.Strings(imports)
		for _, r := range rules {
			if !matchAny(r.From, from) || matchAny(r.Exempt, from) {
				continue
			}
			for _, to := range imports {
				if matchAny(r.To, to) && !matchAny(r.Allow, to) && !excepted(from, to) {
					violations = append(violations, Violation{From: from, To: to, Reason: r.Reason})
				}
			}
		}
		violations = append(violations, checkLayers(from, imports, excepted)...)
	}
	for _, l := range links {
		violations = append(violations, checkLink(g, l)...)
	}
	for i, e := range exceptions {
		if !used[i] {
			unused = append(unused, e)
		}
	}
	return violations, unused
}

func checkLayers(from string, imports []string, excepted func(from, to string) bool) []Violation {
	fl := layer(from)
	if fl < 0 {
		return []Violation{{From: from, Reason: "package has no layer: place it in deptest's layer()"}}
	}
	var out []Violation
	for _, to := range imports {
		if !inModule(to) {
			continue
		}
		tl := layer(to)
		if tl > fl || (tl == fl && fl != 2 && fl != 5 && !strings.HasPrefix(to, from)) {
			if !excepted(from, to) {
				out = append(out, Violation{From: from, To: to,
					Reason: fmt.Sprintf("layer %d imports layer %d: dependencies point downward only", fl, tl)})
			}
		}
	}
	return out
}

// checkLink walks g from l.Root breadth first and reports each forbidden
// package it reaches, with the shortest chain of imports that reaches it.
func checkLink(g Graph, l LinkRule) []Violation {
	root := abs(l.Root)
	prev := map[string]string{root: ""}
	queue := []string{root}
	var out []Violation
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p != root && matchAny(l.To, p) {
			var path []string
			for q := p; q != ""; q = prev[q] {
				path = append(path, q)
			}
			slices.Reverse(path)
			out = append(out, Violation{From: root, To: p, Path: path, Reason: l.Reason})
			continue
		}
		imports := slices.Clone(g[p])
		sort.Strings(imports)
		for _, imp := range imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return out
}
