package search

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/peerpath/peerpath/internal/store"
)

const component = "search"

var migrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE search_entries (
	id   INTEGER PRIMARY KEY,
	key  TEXT NOT NULL UNIQUE,
	cid  TEXT NOT NULL,
	name TEXT NOT NULL,
	path TEXT NOT NULL,
	size INTEGER NOT NULL,
	type TEXT NOT NULL,
	meta TEXT NOT NULL
);
CREATE INDEX search_entries_cid ON search_entries(cid);
CREATE VIRTUAL TABLE search_fts USING fts5(name, path, meta, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE search_blocked (peer TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE search_peers (
	peer   TEXT PRIMARY KEY,
	ok     INTEGER NOT NULL DEFAULT 0,
	bad    INTEGER NOT NULL DEFAULT 0,
	passes INTEGER NOT NULL DEFAULT 0,
	spam   INTEGER NOT NULL DEFAULT 0
);
`}}

// entry is one indexed file or folder.
type entry struct {
	key, cid, name, path, typ, meta string
	size                            int64
}

// syncIndex brings the FTS index in line with the catalog: entries gone
// from it are deleted, new ones are inserted (reading their metadata from
// disk). It returns the keyword counts of the whole index.
func (s *Service) syncIndex(ctx context.Context) error {
	files, err := s.cfg.Catalog.Files(ctx)
	if err != nil {
		return fmt.Errorf("search: list catalog: %w", err)
	}
	want := make(map[string]int, len(files))
	for i, f := range files {
		if f.CID == "" || f.Name == "" {
			continue
		}
		want[f.ShareCID+"\x00"+f.RelPath+"\x00"+f.CID] = i
	}
	have := map[string]int64{}
	rows, err := s.db.QueryContext(ctx, `SELECT id, key FROM search_entries`)
	if err != nil {
		return fmt.Errorf("search: read index: %w", err)
	}
	for rows.Next() {
		var id int64
		var k string
		if err := rows.Scan(&id, &k); err != nil {
			rows.Close()
			return fmt.Errorf("search: read index: %w", err)
		}
		have[k] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search: read index: %w", err)
	}
	var add []entry
	for k, i := range want {
		if _, ok := have[k]; ok {
			continue
		}
		f := files[i]
		e := entry{key: k, cid: f.CID, name: f.Name, size: f.Size, typ: typeOf(f.Name, f.Dir)}
		e.path = path.Join(path.Base(filepath.ToSlash(f.Share)), f.RelPath)
		if !s.cfg.NoMetadata && !f.Dir {
			e.meta = sharedFileMeta(f.Share, f.RelPath, e.typ)
		}
		add = append(add, e)
	}
	var del []int64
	for k, id := range have {
		if _, ok := want[k]; !ok {
			del = append(del, id)
		}
	}
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("search: update index: %w", err)
	}
	defer tx.Rollback()
	for _, id := range del {
		if _, err := tx.ExecContext(ctx, `DELETE FROM search_entries WHERE id = ?`, id); err != nil {
			return fmt.Errorf("search: update index: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM search_fts WHERE rowid = ?`, id); err != nil {
			return fmt.Errorf("search: update index: %w", err)
		}
	}
	for _, e := range add {
		res, err := tx.ExecContext(ctx, `INSERT INTO search_entries(key, cid, name, path, size, type, meta) VALUES (?,?,?,?,?,?,?)`,
			e.key, e.cid, e.name, e.path, e.size, e.typ, e.meta)
		if err != nil {
			return fmt.Errorf("search: update index: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("search: update index: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO search_fts(rowid, name, path, meta) VALUES (?,?,?,?)`, id, e.name, e.path, e.meta); err != nil {
			return fmt.Errorf("search: update index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("search: update index: %w", err)
	}
	s.log.Debug("search index updated", "added", len(add), "removed", len(del))
	return nil
}

// localKeywords returns the routable keywords of the index's names and
// metadata, the most useful first (see orderKeywords).
func (s *Service) localKeywords(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, meta FROM search_entries`)
	if err != nil {
		return nil, fmt.Errorf("search: read index: %w", err)
	}
	defer rows.Close()
	var files [][]string
	for rows.Next() {
		var name, meta string
		if err := rows.Scan(&name, &meta); err != nil {
			return nil, fmt.Errorf("search: read index: %w", err)
		}
		files = append(files, keywords(name, meta))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search: read index: %w", err)
	}
	return orderKeywords(files), nil
}

// orderKeywords orders the keywords of files (each file's routable
// keywords, name first) for announcement, the most useful first. A search
// looks up the providers of its maxLookups longest words and asks only the
// peers that provide all of them, so a file is findable by its name once
// the maxLookups longest keywords of its name are announced, and not
// before. Those keywords come first, of every file, so that every file is
// findable as early as possible; among them, and then among the rest, a
// keyword shared by more files comes first (one record covers them all).
func orderKeywords(files [][]string) []string {
	count := map[string]int{}
	key := map[string]bool{} // among some file's longest maxLookups
	for _, kws := range files {
		for _, k := range kws {
			count[k]++
		}
		byLen := slices.Clone(kws)
		sort.SliceStable(byLen, func(i, j int) bool { return len(byLen[i]) > len(byLen[j]) })
		for _, k := range byLen[:min(len(byLen), maxLookups)] {
			key[k] = true
		}
	}
	out := make([]string, 0, len(count))
	for k := range count {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if key[a] != key[b] {
			return key[a]
		}
		if count[a] != count[b] {
			return count[a] > count[b]
		}
		return a < b
	})
	return out
}

// hit is one local match.
type hit struct {
	CID   string  `json:"c"`
	Name  string  `json:"n"`
	Size  int64   `json:"s"`
	Type  string  `json:"t"`
	Score float64 `json:"x"` // relevance: -bm25, clamped to [0, MaxRelevance]
}

// MaxRelevance is the highest relevance a hit may carry on the wire; an
// answer with a higher score is malformed.
const MaxRelevance = 50

// match runs q against the local index, best first, one hit per CID.
func (s *Service) match(ctx context.Context, q query, limit int) ([]hit, error) {
	var where strings.Builder
	args := []any{ftsMatch(q.Words)}
	if q.Type != "" {
		where.WriteString(" AND e.type = ?")
		args = append(args, q.Type)
	}
	if q.MinSize >= 0 {
		where.WriteString(" AND e.size > ?")
		args = append(args, q.MinSize)
	}
	if q.MaxSize >= 0 {
		where.WriteString(" AND e.size < ?")
		args = append(args, q.MaxSize)
	}
	args = append(args, limit*2)
	rows, err := s.db.QueryContext(ctx, `SELECT e.cid, e.name, e.size, e.type, bm25(search_fts, 10.0, 2.0, 5.0)
		FROM search_fts JOIN search_entries e ON e.id = search_fts.rowid
		WHERE search_fts MATCH ?`+where.String()+` ORDER BY 5 LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("search: match: %w", err)
	}
	defer rows.Close()
	var out []hit
	seen := map[string]bool{}
	for rows.Next() {
		var h hit
		var bm float64
		if err := rows.Scan(&h.CID, &h.Name, &h.Size, &h.Type, &bm); err != nil {
			return nil, fmt.Errorf("search: match: %w", err)
		}
		if seen[h.CID] || len(out) >= limit || s.refuses(h.CID) {
			continue
		}
		seen[h.CID] = true
		h.Score = min(max(-bm, 0), MaxRelevance)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search: match: %w", err)
	}
	return out, nil
}
