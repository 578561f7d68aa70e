//go:build !unix && !windows

package cputime

import "time"

// Process returns zero: this platform's CPU time is not read.
func Process() time.Duration { return 0 }
