package httpapi

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
)

// maxNames bounds the names a node remembers.
const maxNames = 4096

// names remembers the file or folder name of content ids this node has
// seen in search results, so a download started from an id alone (`peerpath
// get CID`, the Downloads page) is saved under its name rather than under
// the id. Only plain, safe file names are kept ([safeName]); the oldest are
// forgotten past [maxNames]. A name is what a peer said: the same name the
// search showed the person.
type names struct {
	mu    sync.Mutex
	m     map[string]string
	order []string // ids in the order remembered, a ring of maxNames
	next  int
}

func newNames() *names { return &names{m: map[string]string{}} }

func (n *names) remember(id, name string) {
	if !safeName(name) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.m[id]; ok {
		n.m[id] = name
		return
	}
	if len(n.order) < maxNames {
		n.order = append(n.order, id)
	} else {
		delete(n.m, n.order[n.next])
		n.order[n.next] = id
		n.next = (n.next + 1) % maxNames
	}
	n.m[id] = name
}

// lookup returns the name remembered for id, or asks sh (may be nil) for
// a share of this node's own with that id; "" when neither knows it.
func (n *names) lookup(ctx context.Context, id string, sh Shares) string {
	n.mu.Lock()
	name := n.m[id]
	n.mu.Unlock()
	if name != "" || sh == nil {
		return name
	}
	list, err := sh.List(ctx)
	if err != nil {
		return ""
	}
	for _, s := range list {
		if s.CID == id && safeName(s.Name) {
			return s.Name
		}
	}
	return ""
}

// safeName accepts a plain file name: no folder, no "." or "..", no
// control characters, at most 255 bytes.
func safeName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 || filepath.Base(name) != name ||
		strings.ContainsAny(name, `/\:`) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
