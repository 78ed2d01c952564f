package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Binary size units, as nats-server and the nats CLI print them.
var sizeUnits = []struct {
	name string
	n    int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseByteSize reads a size in bytes: a plain number, or a number with a
// unit B, KiB, MiB or GiB (case ignored), such as 2MiB or 1.5GiB.
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, unit := s, int64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.name) && strings.EqualFold(s[len(s)-len(u.name):], u.name) {
			num, unit = strings.TrimSpace(s[:len(s)-len(u.name)]), u.n
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		if strings.IndexFunc(num, func(r rune) bool { return r >= '0' && r <= '9' }) == 0 {
			return 0, fmt.Errorf("%q: unknown unit; use B, KiB, MiB or GiB", s)
		}
		return 0, fmt.Errorf("%q is not a size; write bytes or a number with KiB, MiB or GiB, like 2MiB", s)
	}
	switch n := f * float64(unit); {
	case f < 0:
		return 0, fmt.Errorf("%q is negative", s)
	case n >= math.MaxInt64:
		return 0, fmt.Errorf("%q is too large", s)
	case n != math.Trunc(n):
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	default:
		return int64(n), nil
	}
}

// formatByteSize prints n in the largest unit that divides it, as
// parseByteSize reads it: 1MiB, 1536KiB, 1000B; 0 is "0".
func formatByteSize(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range sizeUnits {
		if n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// byteSizeFlag is a flag holding a size in bytes, at most max; zero means
// the default.
type byteSizeFlag struct {
	n   *int64
	max int64
}

func (f byteSizeFlag) String() string {
	if f.n == nil {
		return "0"
	}
	return formatByteSize(*f.n)
}

func (f byteSizeFlag) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	if f.max > 0 && n > f.max {
		return fmt.Errorf("at most %d bytes", f.max)
	}
	*f.n = n
	return nil
}

func (f byteSizeFlag) Type() string { return "size" }
