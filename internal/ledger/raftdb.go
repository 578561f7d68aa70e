package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrEmptyRaftDB is returned (wrapped, naming the file) by [New] for a voter
// whose raft.db exists but is empty. SQLite would open an empty file as a
// new, empty log, and the voter would come up with "no ledger", forgetting
// every transfer it had acknowledged; so it refuses to start instead.
var ErrEmptyRaftDB = errors.New("ledger: raft.db is empty")

// checkRaftDB refuses a raft log file that exists with zero length. A
// missing file is a new voter's and is fine.
func checkRaftDB(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: raft log %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: %s has zero length, so this voter's copy of the ledger is lost; "+
			"restore it from a backup, or, if this voter never held the ledger (or the other voters hold it), "+
			"remove it and the snapshots beside it to rejoin as a new voter", ErrEmptyRaftDB, path)
	}
	return nil
}
