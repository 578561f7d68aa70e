// Package unitarg reads the unit index that the compute layer passes to a
// job's module: as the first positional argument and in the PEERPATH_UNIT
// environment variable. The argument wins when both are present.
package unitarg

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
)

// EnvVar is the environment variable that carries the unit index.
const EnvVar = "PEERPATH_UNIT"

// Parse parses args (without the program name) with fs, whose flags the
// caller has defined, then reads the unit index from the first positional
// argument or else from getenv(EnvVar). It returns the index and the
// positional arguments after it.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) (uint64, []string, error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return 0, nil, err
	}
	rest := fs.Args()
	var s string
	if len(rest) > 0 {
		s, rest = rest[0], rest[1:]
	} else if getenv != nil {
		s = getenv(EnvVar)
	}
	if s == "" {
		return 0, nil, errors.New("no unit index: pass it as the first argument or in " + EnvVar)
	}
	i, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("unit index %q: %w", s, err)
	}
	return i, rest, nil
}
