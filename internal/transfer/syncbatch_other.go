//go:build !linux

package transfer

import "os"

// syncBatch makes the files parts and the folders dirs durable: an fsync of
// each (there is no syncfs here).
func syncBatch(dirs map[string]bool, parts []string) error {
	for _, p := range parts {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return errorf("sync %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return errorf("sync %s: %w", p, err)
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return errorf("sync %s: %w", d, err)
		}
	}
	return nil
}
