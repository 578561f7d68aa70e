//go:build !linux

package transfer

import "os"

// dropCache is a no-op where fadvise is not available.
func dropCache(*os.File) {}
