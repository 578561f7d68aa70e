package main

import (
	"context"
	"encoding/json"
	"regexp"
	"sync"

	"github.com/peerpath/peerpath/api"
)

// Peers in the CLI's tables are shown by name: a contact's name, else the
// name the peer gave itself marked unverified ("~Ana's laptop"), else the
// short id. [query] learns the names of every peer id in what it prints
// (GET /api/v1/labels) before it prints a table, and the tables call
// [globals.name]. --json output keeps the ids.

// peerIDPattern matches the peer ids in a value printed (Ed25519 ids
// "12D3KooW…", older RSA ids "Qm…").
var peerIDPattern = regexp.MustCompile(`\b(?:12D3KooW|Qm)[1-9A-HJ-NP-Za-km-z]{40,50}\b`)

// peerNames maps peer ids to how the tables show them.
type peerNames struct {
	mu sync.Mutex
	m  map[string]string
}

// learnNames asks the daemon how to show the peer ids found in v. Failing
// that (an old daemon, no contacts), tables show short ids.
func (g *globals) learnNames(ctx context.Context, cl *api.Client, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	var ids []string
	for _, id := range peerIDPattern.FindAllString(string(b), -1) {
		if !seen[id] && len(ids) < 1000 {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	ls, err := cl.Labels(ctx, ids)
	if err != nil {
		return
	}
	g.names.mu.Lock()
	defer g.names.mu.Unlock()
	if g.names.m == nil {
		g.names.m = map[string]string{}
	}
	for _, l := range ls {
		g.names.m[l.ID] = labelText(l)
	}
}

// labelText is how a table shows a peer of label l.
func labelText(l api.Label) string {
	switch {
	case l.Kind == "contact" && l.Name != "":
		return l.Name
	case l.Kind == "unverified" && l.Name != "":
		return "~" + l.Name
	case l.Kind == "self" && l.Name != "":
		return l.Name + " (this node)"
	}
	return short(l.ID)
}

// name is how the tables show peer id: by name when [globals.learnNames]
// learnt one, else the short id.
func (g *globals) name(id string) string {
	g.names.mu.Lock()
	defer g.names.mu.Unlock()
	if s, ok := g.names.m[id]; ok {
		return s
	}
	return short(id)
}
