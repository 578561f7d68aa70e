package share

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Serve watches shared folders and re-indexes shares whose files are added,
// changed or removed (debounced by WatchDebounce), re-indexes every share
// once at start (catching changes made while the node was down), and runs
// the announcement queue with its periodic re-announce. It returns nil when
// ctx ends, [ErrServing] if it is already running, or an error if the file
// watcher cannot start.
func (s *Service) Serve(ctx context.Context) error {
	if !s.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	defer s.serving.Store(false)
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return errors.Join(errors.New("share: watch"), err)
	}
	defer w.Close()
	s.mu.Lock()
	for id := range s.roots {
		s.markDirtyLocked(id, 0)
	}
	s.mu.Unlock()
	signal(s.wakeIx)
	signal(s.wakeW)

	var wg sync.WaitGroup
	wg.Go(func() { s.indexLoop(ctx) })
	if s.cfg.Announcer != nil {
		wg.Go(func() { s.announceLoop(ctx) })
	}
	s.watchLoop(ctx, w)
	wg.Wait()
	return nil
}

// markDirty schedules a re-index of share id after delay, rehashing the
// files at the force rel paths whatever their size and mtime.
func (s *Service) markDirty(id int64, delay time.Duration, force ...string) {
	s.mu.Lock()
	s.markDirtyLocked(id, delay, force...)
	s.mu.Unlock()
	signal(s.wakeIx)
}

func (s *Service) markDirtyLocked(id int64, delay time.Duration, force ...string) {
	now := time.Now()
	d := s.dirty[id]
	if d == nil {
		d = &dirtyShare{first: now}
		s.dirty[id] = d
	}
	d.due = now.Add(delay)
	if latest := d.first.Add(10 * s.cfg.WatchDebounce); d.due.After(latest) {
		d.due = latest
	}
	for _, rel := range force {
		if d.force == nil {
			d.force = make(map[string]bool)
		}
		d.force[rel] = true
	}
}

func (s *Service) indexLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	type job struct {
		id    int64
		force map[string]bool
	}
	for {
		now := time.Now()
		var due []job
		var next time.Time
		s.mu.Lock()
		for id, d := range s.dirty {
			if !d.due.After(now) {
				due = append(due, job{id, d.force})
				delete(s.dirty, id)
			} else if next.IsZero() || d.due.Before(next) {
				next = d.due
			}
		}
		s.mu.Unlock()
		for _, j := range due {
			s.reindex(ctx, j.id, j.force)
			if ctx.Err() != nil {
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wakeIx:
		case <-timer.C:
		}
	}
}

func (s *Service) reindex(ctx context.Context, id int64, force map[string]bool) {
	s.mu.Lock()
	r, ok := s.roots[id]
	s.mu.Unlock()
	if !ok {
		return
	}
	if _, err := os.Lstat(r.path); err != nil {
		s.log.Warn("share: shared path unavailable; keeping its catalog", "path", r.path, "err", err)
		return
	}
	if _, err := s.index(ctx, r.path, indexOpts{force: force, mustExist: true}); err != nil && ctx.Err() == nil {
		s.log.Warn("share: re-index failed", "path", r.path, "err", err)
	}
}

func (s *Service) watchLoop(ctx context.Context, w *fsnotify.Watcher) {
	watched := make(map[string]bool)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wakeW:
			s.syncWatches(ctx, w, watched)
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			s.onEvent(ev)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Warn("share: watcher", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				s.mu.Lock()
				for id := range s.roots {
					s.markDirtyLocked(id, s.cfg.WatchDebounce)
				}
				s.mu.Unlock()
				signal(s.wakeIx)
			}
		}
	}
}

func (s *Service) onEvent(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	s.mu.Lock()
	hit := false
	for id, r := range s.roots {
		switch {
		case p == r.path:
		case r.isDir && strings.HasPrefix(p, r.path+string(filepath.Separator)):
			if s.cfg.Ignore != nil {
				rel := filepath.ToSlash(p[len(r.path)+1:])
				// A removed entry cannot be stat'ed; ask about it as a file.
				isDir := false
				if info, err := os.Lstat(p); err == nil {
					isDir = info.IsDir()
				}
				if s.cfg.Ignore(rel, isDir) {
					continue
				}
			}
		default:
			continue
		}
		s.markDirtyLocked(id, s.cfg.WatchDebounce)
		hit = true
	}
	s.mu.Unlock()
	if hit {
		signal(s.wakeIx)
	}
}

// syncWatches makes the watch list equal the folders of all shares (and the
// parent folder of each shared file). A folder that starts being watched
// may have gained entries between the index that found it and now, so its
// share is scheduled for another (cheap, stat-only) re-index.
func (s *Service) syncWatches(ctx context.Context, w *fsnotify.Watcher, watched map[string]bool) {
	want := make(map[string]int64)
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.path, r.is_dir, f.rel_path FROM share_roots r
		LEFT JOIN share_files f ON f.share_id = r.id AND f.is_dir = 1`)
	if err != nil {
		s.log.Warn("share: watch list", "err", err)
		return
	}
	for rows.Next() {
		var id int64
		var root string
		var isDir bool
		var rel *string
		if err := rows.Scan(&id, &root, &isDir, &rel); err != nil {
			continue
		}
		switch {
		case !isDir:
			want[filepath.Dir(root)] = id
		case rel == nil || *rel == "":
			want[root] = id
		default:
			want[filepath.Join(root, filepath.FromSlash(*rel))] = id
		}
	}
	rows.Close()
	for dir := range watched {
		if _, ok := want[dir]; !ok {
			_ = w.Remove(dir) // fails harmlessly if the folder is gone
			delete(watched, dir)
		}
	}
	recheck := make(map[int64]bool)
	for dir, id := range want {
		if watched[dir] {
			continue
		}
		if err := w.Add(dir); err != nil {
			s.log.Warn("share: cannot watch folder", "path", dir, "err", err)
			continue
		}
		watched[dir] = true
		recheck[id] = true
	}
	if len(recheck) > 0 {
		s.mu.Lock()
		for id := range recheck {
			s.markDirtyLocked(id, s.cfg.WatchDebounce)
		}
		s.mu.Unlock()
		signal(s.wakeIx)
	}
}
