package inbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
)

// What a node sends is for its recipient only. [Service.Send] places each
// file or folder in a folder of its own under Config.Outbox (a hard link
// per file, a copy where a link cannot be made, e.g. across file systems)
// and shares it there; the node keeps HOME/outbox out of its public
// catalogue (not announced, not searchable) and serves a share there only
// to a peer [Service.MayFetch] allows: one it was sent to.

// inOutbox reports whether path lies in Config.Outbox.
func (s *Service) inOutbox(path string) bool {
	if s.cfg.Outbox == "" {
		return false
	}
	rel, err := filepath.Rel(s.cfg.Outbox, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// stage places the file or folder at abs in a new folder of the outbox and
// returns its path there. Only regular files and folders are placed
// (links and devices inside a folder are left out).
func (s *Service) stage(abs string) (string, error) {
	if s.cfg.Outbox == "" || s.inOutbox(abs) {
		return abs, nil
	}
	b := make([]byte, 8)
	rand.Read(b)
	dir := filepath.Join(s.cfg.Outbox, hex.EncodeToString(b))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("inbox: outbox: %w", err)
	}
	name := filepath.Base(abs)
	if err := content.ValidName(name); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	dst := filepath.Join(dir, name)
	err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o700)
		case d.Type().IsRegular():
			return linkOrCopy(p, to)
		}
		return nil
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("inbox: place %s in the outbox: %w", abs, err)
	}
	return dst, nil
}

// linkOrCopy hard-links src at dst, or copies it (durably) when it cannot.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// MayFetch reports whether p may fetch the share whose root id is rootCID
// from the outbox: this node offered it to p.
func (s *Service) MayFetch(p peer.ID, rootCID string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM inbox_out, json_each(inbox_out.files) f
		WHERE inbox_out.peer = ? AND json_extract(f.value, '$.cid') = ? LIMIT 1`, p.String(), rootCID).Scan(&one)
	return err == nil
}

// IsReceived reports whether id (a file or folder's content id) came in an
// offer this node accepted. The node does not seed what it received: a
// file sent to it stays between sender and recipient.
func (s *Service) IsReceived(id string) bool {
	s.mu.Lock()
	ok := s.accepting[id]
	s.mu.Unlock()
	if ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM inbox_in, json_each(inbox_in.files) f
		WHERE inbox_in.accepted = 1 AND json_extract(f.value, '$.cid') = ? LIMIT 1`, id).Scan(&one)
	return err == nil
}
