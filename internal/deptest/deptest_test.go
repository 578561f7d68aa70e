// Package deptest keeps the layering of DESIGN.md honest: it fails when a
// package imports one above it.
package deptest

import (
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const mod = "github.com/peerpath/peerpath/"

// layer gives each package's rank; a package may import only packages of a
// lower rank, or of its own rank where sameRank allows.
func layer(pkg string) int {
	p := strings.TrimPrefix(pkg, mod)
	switch {
	case p == "api", p == "internal/content", p == "internal/store", p == "internal/config", p == "internal/testutil", p == "internal/peerlimit", p == "internal/cputime":
		return 0
	case p == "internal/p2p":
		return 1
	case strings.HasPrefix(p, "internal/share"), strings.HasPrefix(p, "internal/transfer"),
		strings.HasPrefix(p, "internal/search"), strings.HasPrefix(p, "internal/compute"),
		strings.HasPrefix(p, "internal/ledger"), strings.HasPrefix(p, "internal/market"):
		return 2
	case strings.HasPrefix(p, "internal/httpapi"), strings.HasPrefix(p, "internal/webui"):
		return 3
	case p == "internal/node":
		return 4
	case strings.HasPrefix(p, "cmd/"), strings.HasPrefix(p, "test/"), strings.HasPrefix(p, "examples/"), strings.HasPrefix(p, "internal/deptest"):
		return 5
	}
	return -1
}

// pure packages may import nothing that touches the network or a database.
var pure = map[string][]string{
	mod + "internal/content": {"net", "net/http", "database/sql", mod + "internal/store", mod + "internal/p2p"},
	mod + "api":              {mod + "internal/"},
}

type pkgInfo struct {
	ImportPath string
	Imports    []string
}

func TestLayering(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Imports", "../../...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	n := 0
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		from := layer(p.ImportPath)
		if from < 0 {
			t.Errorf("package %s has no layer: add it to deptest", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			for _, banned := range pure[p.ImportPath] {
				if imp == banned || (strings.HasSuffix(banned, "/") && strings.HasPrefix(imp, banned)) {
					t.Errorf("%s must stay pure but imports %s", p.ImportPath, imp)
				}
			}
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			to := layer(imp)
			if to > from || (to == from && from != 2 && from != 5 && !strings.HasPrefix(imp, p.ImportPath)) {
				t.Errorf("%s (layer %d) imports %s (layer %d): dependencies point downward only", p.ImportPath, from, imp, to)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d packages listed", n)
	}
}
