//go:build !unix

package content

import "io/fs"

const (
	oNonblock = 0
	oNoFollow = 0
)

// fileIDOf: no stable identity is exposed by FileInfo here; callers fall
// back to os.SameFile within one process.
func fileIDOf(info fs.FileInfo) (FileID, bool) { return FileID{}, false }
