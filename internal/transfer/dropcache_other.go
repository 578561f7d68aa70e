//go:build !linux

package transfer

import "os"

// DropCache is a no-op where fadvise is not available.
func DropCache(*os.File) {}
