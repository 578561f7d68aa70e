package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/store"
)

// Limits of what the node loads.
const (
	// MaxListSize bounds a list, read from a file or fetched from a URL.
	// The largest public list (badbits, about 1.5 million double hashes)
	// takes about 100 MB; lookups hold 40-50 bytes per rule in memory.
	MaxListSize = 256 << 20
	// MaxLists bounds the lists loaded at once.
	MaxLists = 64
	// FetchTimeout bounds fetching a list from a URL, body included.
	FetchTimeout = 2 * time.Minute
)

// Errors, wrapped with details.
var (
	// ErrNotFound: no loaded list has that id.
	ErrNotFound = errors.New("policy: no such list")
	// ErrTooLarge: the list is larger than MaxListSize, or MaxLists are
	// loaded.
	ErrTooLarge = errors.New("policy: list too large")
	// ErrFetch: the URL could not be fetched.
	ErrFetch = errors.New("policy: fetch failed")
	// ErrRefused is what a refusal wraps: content on a loaded denylist.
	ErrRefused = errors.New("refused by this node's content policy")
)

// Info describes a loaded list.
type Info struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"`
	Added    time.Time `json:"added"`
	Size     int64     `json:"size"`
	Name     string    `json:"name,omitempty"`
	Desc     string    `json:"description,omitempty"`
	Author   string    `json:"author,omitempty"`
	Deny     int       `json:"deny"`
	Allow    int       `json:"allow"`
	Ignored  int       `json:"ignored"`
	Warnings []string  `json:"warnings,omitempty"`
}

// Config configures a Policy.
type Config struct {
	// Dir holds the lists (HOME/policy): each list's bytes as ID.deny and
	// lists.json, the index in the order the lists were added.
	Dir string
	// HTTPClient fetches URLs (nil: a client with FetchTimeout).
	HTTPClient *http.Client
	// MaxSize bounds a list (0: MaxListSize).
	MaxSize int64
	Logger  *slog.Logger
}

// Policy is the set of loaded lists. Its methods are safe for concurrent
// use; Refuses takes a read lock only.
type Policy struct {
	cfg Config
	log *slog.Logger

	mu    sync.RWMutex
	lists []loaded // in the order added: a later list overrides
}

type loaded struct {
	info Info
	list *List
}

// indexFile lists the loaded lists' Info (without rule counts it can
// recompute) in order.
const indexFile = "lists.json"

// Open loads the lists kept in cfg.Dir. A list whose file is missing or no
// longer parses is dropped with a warning, not fatal: the node starts.
func Open(cfg Config) (*Policy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = MaxListSize
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: FetchTimeout}
	}
	p := &Policy{cfg: cfg, log: cfg.Logger}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var infos []Info
	if err := json.Unmarshal(data, &infos); err != nil {
		return nil, fmt.Errorf("policy: %s: %w", indexFile, err)
	}
	for _, in := range infos {
		if !validID(in.ID) {
			p.log.Warn("policy: dropping a list with a bad id", "id", in.ID)
			continue
		}
		l, err := p.parseFile(in.ID)
		if err != nil {
			p.log.Warn("policy: dropping a list that no longer loads", "id", in.ID, "source", in.Source, "err", err)
			continue
		}
		p.lists = append(p.lists, loaded{info: fill(in, l), list: l})
	}
	return p, nil
}

func (p *Policy) path(id string) string { return filepath.Join(p.cfg.Dir, id+".deny") }

func (p *Policy) parseFile(id string) (*List, error) {
	f, err := os.Open(p.path(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(io.LimitReader(f, p.cfg.MaxSize))
}

// validID reports whether id is one this package made (16 hex digits), so
// no id from the index names a path outside Dir.
func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func fill(in Info, l *List) Info {
	in.Name, in.Desc, in.Author = l.Name, l.Description, l.Author
	in.Deny, in.Allow, in.Ignored = l.Deny, l.Allow, l.Ignored
	in.Warnings = l.Warnings
	return in
}

// Add loads the list read from r, named source (a file name or URL, for
// display), and keeps it in the home. A list that fails to parse is not
// kept and changes nothing.
func (p *Policy) Add(ctx context.Context, source string, r io.Reader) (Info, error) {
	p.mu.RLock()
	n := len(p.lists)
	p.mu.RUnlock()
	if n >= MaxLists {
		return Info{}, fmt.Errorf("%w: %d lists are loaded already; remove one first", ErrTooLarge, MaxLists)
	}
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	tmp, err := os.CreateTemp(p.cfg.Dir, "add-*.tmp")
	if err != nil {
		return Info{}, fmt.Errorf("policy: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, io.LimitReader(contextReader{ctx, r}, p.cfg.MaxSize+1))
	if err != nil {
		return Info{}, fmt.Errorf("policy: read list: %w", err)
	}
	if size > p.cfg.MaxSize {
		return Info{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, p.cfg.MaxSize)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("policy: %w", err)
	}
	l, err := Parse(tmp)
	if err != nil {
		return Info{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("policy: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("policy: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.path(id)); err != nil {
		return Info{}, fmt.Errorf("policy: %w", err)
	}
	info := fill(Info{ID: id, Source: source, Added: time.Now().UTC().Truncate(time.Second), Size: size}, l)

	p.mu.Lock()
	defer p.mu.Unlock()
	next := append(slices.Clone(p.lists), loaded{info: info, list: l})
	if err := p.saveIndex(next); err != nil {
		os.Remove(p.path(id))
		return Info{}, err
	}
	p.lists = next
	p.log.Info("policy: list added", "id", id, "source", source, "deny", l.Deny, "allow", l.Allow, "ignored", l.Ignored)
	return info, nil
}

// AddURL fetches an http or https URL once (within FetchTimeout and
// MaxListSize) and adds the list.
func (p *Policy) AddURL(ctx context.Context, raw string) (Info, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Info{}, fmt.Errorf("%w: %q is not an http(s) URL", ErrInvalid, raw)
	}
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %s: %v", ErrFetch, u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Info{}, fmt.Errorf("%w: %s: %s", ErrFetch, u.Redacted(), resp.Status)
	}
	if resp.ContentLength > p.cfg.MaxSize {
		return Info{}, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrTooLarge, u.Redacted(), resp.ContentLength, p.cfg.MaxSize)
	}
	return p.Add(ctx, u.Redacted(), resp.Body)
}

// Remove unloads the list id and deletes its file.
func (p *Policy) Remove(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.lists, func(l loaded) bool { return l.info.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	next := slices.Delete(slices.Clone(p.lists), i, i+1)
	if err := p.saveIndex(next); err != nil {
		return err
	}
	p.lists = next
	os.Remove(p.path(id))
	return nil
}

func (p *Policy) saveIndex(lists []loaded) error {
	infos := make([]Info, len(lists))
	for i, l := range lists {
		infos[i] = Info{ID: l.info.ID, Source: l.info.Source, Added: l.info.Added, Size: l.info.Size}
	}
	data, err := json.MarshalIndent(infos, "", "  ")
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if err := store.WriteFileAtomic(filepath.Join(p.cfg.Dir, indexFile), data, 0o600); err != nil {
		return fmt.Errorf("policy: save %s: %w", indexFile, err)
	}
	return nil
}

// Lists returns the loaded lists in order.
func (p *Policy) Lists() []Info {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]Info, len(p.lists))
	for i, l := range p.lists {
		out[i] = l.info
	}
	return out
}

// Empty reports whether no list is loaded (so nothing is refused).
func (p *Policy) Empty() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.lists) == 0
}

// Refuses reports whether the loaded lists deny id: the last list with a
// rule matching id decides, and within it the last such rule.
func (p *Policy) Refuses(id cid.Cid) bool {
	if !id.Defined() {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.lists) == 0 {
		return false
	}
	pr := newProbe(id)
	for i := len(p.lists) - 1; i >= 0; i-- {
		if d := p.lists[i].list.decide(&pr); d != 0 {
			return d > 0
		}
	}
	return false
}

// Check returns an error wrapping ErrRefused when the lists deny id.
func (p *Policy) Check(id cid.Cid) error {
	if p.Refuses(id) {
		return fmt.Errorf("%w: %s", ErrRefused, id)
	}
	return nil
}

// contextReader stops reading when ctx is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
