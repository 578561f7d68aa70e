package content

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotInside is returned (wrapped) by [OpenInside] when a name resolves
// to a file outside the folder, or to something that is not a regular file.
var ErrNotInside = errors.New("content: not a regular file inside the folder")

// FileID identifies a file on its file system (device and inode on Unix):
// it stays the same while the file is written to, and changes when a name
// is made to point at another file (a symlink re-pointed, a file renamed
// over). The zero FileID means unknown.
type FileID struct {
	Dev, Ino uint64
}

// FileIDOf returns the identity of the file info describes (from Stat,
// Lstat or a descriptor's Stat). ok is false where the platform does not
// expose one; the FileID is then zero.
func FileIDOf(info fs.FileInfo) (id FileID, ok bool) {
	return fileIDOf(info)
}

// IsZero reports whether id is unknown.
func (id FileID) IsZero() bool { return id == FileID{} }

// OpenInside opens the regular file rel (slash-separated, relative to the
// folder r) for reading, and returns it with its descriptor's Stat. A
// symbolic link is followed only to a file inside r, at the moment of the
// open: r (an [os.Root]) resolves every path component beneath the folder,
// so re-pointing a link, or swapping a folder for a link, between a check
// and the open can never reach a file outside. An absolute link (which
// os.Root does not follow) is resolved by path and the result opened
// through r again, so it too cannot leave the folder. A name that leads
// outside, or to anything but a regular file, wraps [ErrNotInside]. The
// file is opened non-blocking, so a FIFO swapped in cannot stall the
// caller. Callers that checked the file earlier compare
// [FileIDOf](info) with what they saw, and read only through the returned
// descriptor.
func OpenInside(r *os.Root, rel string) (*os.File, fs.FileInfo, error) {
	name := filepath.FromSlash(rel)
	f, err := r.OpenFile(name, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		f, err = openAbsLink(r, name, err)
		if err != nil {
			return nil, nil, err
		}
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s", ErrNotInside, rel)
	}
	return f, info, nil
}

// openAbsLink retries an open that os.Root refused (first) for an absolute
// symbolic link that leads back inside r.
func openAbsLink(r *os.Root, name string, first error) (*os.File, error) {
	if errors.Is(first, fs.ErrNotExist) || errors.Is(first, fs.ErrPermission) {
		return nil, first
	}
	realRoot, err := filepath.EvalSymlinks(r.Name())
	if err != nil {
		return nil, first
	}
	target, err := filepath.EvalSymlinks(filepath.Join(r.Name(), name))
	if err != nil {
		return nil, first
	}
	if !within(realRoot, target) {
		return nil, fmt.Errorf("%w: %s leads to %s", ErrNotInside, name, target)
	}
	rel, err := filepath.Rel(realRoot, target)
	if err != nil {
		return nil, first
	}
	return r.OpenFile(rel, os.O_RDONLY|oNonblock, 0)
}

// within reports whether target is root or below it.
func within(root, target string) bool {
	return target == root || strings.HasPrefix(target, root+string(filepath.Separator))
}
