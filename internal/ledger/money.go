package ledger

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MicroPerCredit is the number of micro-credits in one credit. All amounts
// in the ledger are int64 micro-credits.
const MicroPerCredit = 1_000_000

// ParseCredits parses a decimal number of credits ("1.5", "-2", "0.000001")
// into micro-credits. At most six fractional digits are accepted; anything
// finer, an empty string, exponents or an overflow of int64 is an error.
func ParseCredits(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg = true
		s = s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("ledger: invalid credits %q", orig)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("ledger: credits %q: more than 6 decimal places", orig)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("ledger: invalid credits %q", orig)
			}
		}
	}
	var w uint64
	if whole != "" {
		var err error
		w, err = strconv.ParseUint(whole, 10, 64)
		if err != nil || w > math.MaxInt64/MicroPerCredit {
			return 0, fmt.Errorf("ledger: credits %q out of range", orig)
		}
	}
	var f uint64
	if frac != "" {
		padded := frac + strings.Repeat("0", 6-len(frac))
		f, _ = strconv.ParseUint(padded, 10, 64) // digits checked above, at most 6
	}
	total := w*MicroPerCredit + f
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("ledger: credits %q out of range", orig)
	}
	if neg {
		return -int64(total), nil
	}
	return int64(total), nil
}

// FormatCredits formats micro-credits as a decimal number of credits with no
// trailing zeros: 1500000 -> "1.5", 2000000 -> "2", -1 -> "-0.000001".
func FormatCredits(micro int64) string {
	neg := micro < 0
	u := uint64(micro)
	if neg {
		u = uint64(-(micro + 1)) + 1 // safe for math.MinInt64
	}
	whole := u / MicroPerCredit
	frac := u % MicroPerCredit
	s := strconv.FormatUint(whole, 10)
	if frac != 0 {
		fs := fmt.Sprintf("%06d", frac)
		s += "." + strings.TrimRight(fs, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}
