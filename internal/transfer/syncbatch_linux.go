package transfer

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncBatch makes the files just written into dirs durable, and the
// folders themselves: one syncfs(2) per file system the folders are on
// (one journal commit for the lot, where an fsync per file costs one
// each). parts is not needed here: they are in dirs.
func syncBatch(dirs map[string]bool, parts []string) error {
	done := make(map[uint64]bool)
	for d := range dirs {
		f, err := os.Open(d)
		if err != nil {
			return errorf("sync %s: %w", d, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &st)
		if err == nil && !done[st.Dev] {
			done[st.Dev] = true
			err = unix.Syncfs(int(f.Fd()))
		}
		f.Close()
		if err != nil {
			return errorf("sync %s: %w", d, err)
		}
	}
	return nil
}
