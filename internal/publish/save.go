package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/peerpath/peerpath/internal/store"
)

// Saved is the answer to [Service.Save].
type Saved struct {
	Document
	URL  string
	Path string
}

// Save fetches the document at url and writes it atomically to output
// (replacing what is there), or, without output, into dir (default
// Config.Downloads) under its published name made safe, never over an
// existing file. The name comes from the publisher: only its last
// element is used, and one that is empty, "." or "..", or holds a
// separator or NUL, is replaced by the content id.
func (s *Service) Save(ctx context.Context, rawURL, output, dir string) (Saved, error) {
	doc, plain, err := s.Fetch(ctx, rawURL)
	if err != nil {
		return Saved{}, err
	}
	out := Saved{Document: doc, URL: strings.TrimSpace(rawURL)}
	if output != "" {
		if !filepath.IsAbs(output) {
			return Saved{}, fmt.Errorf("%w: output %q must be absolute", ErrInvalid, output)
		}
		out.Path = filepath.Clean(output)
		if err := store.WriteFileAtomic(out.Path, plain, 0o644); err != nil {
			return Saved{}, fmt.Errorf("publish: %w", err)
		}
		return out, nil
	}
	if dir == "" {
		dir = s.cfg.Downloads
	}
	if dir == "" || !filepath.IsAbs(dir) {
		return Saved{}, fmt.Errorf("%w: an absolute output or folder is needed", ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Saved{}, fmt.Errorf("publish: %w", err)
	}
	name := SafeName(doc.Name, doc.CID)
	ext := filepath.Ext(name)
	for i := 1; i <= 100; i++ {
		p := filepath.Join(dir, name)
		if i > 1 {
			p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), i, ext))
		}
		// O_EXCL claims the name, so two saves never pick the same one.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return Saved{}, fmt.Errorf("publish: %w", err)
		}
		f.Close()
		if err := store.WriteFileAtomic(p, plain, 0o644); err != nil {
			os.Remove(p)
			return Saved{}, fmt.Errorf("publish: %w", err)
		}
		out.Path = p
		return out, nil
	}
	return Saved{}, fmt.Errorf("publish: %s: too many files of that name in %s", name, dir)
}

// SafeName returns a file name from a publisher's name: its last element
// if that is a plain name, else fallback.
func SafeName(name, fallback string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "\x00:") || len(name) > 255 {
		return fallback
	}
	return name
}
