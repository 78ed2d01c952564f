// Package lines holds the rule by which jetpool reads jobs from text: one
// job per line.
package lines

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// MaxLine is the longest line, in bytes without its line ending, that Read
// accepts.
const MaxLine = 16 << 20

// blockSize is the size of the blocks Read copies lines into: one
// allocation per block rather than per line.
const blockSize = 32 << 10

// Read calls each for every job line of r with its number (from 1), as it
// reads. A line ends at \n or \r\n; a blank line (empty or white space
// only) is skipped but counted, so that the numbers of the lines after it
// do not shift. The lines are copied into shared blocks and stay valid
// after Read returns; each is capped at its length, so appending to one
// copies it. A line longer than MaxLine is an error naming it.
func Read(r io.Reader, each func(n int, text []byte)) error {
	sc := bufio.NewScanner(r)
	// Room for the longest line and its \r\n.
	sc.Buffer(make([]byte, 64<<10), MaxLine+2)
	var block []byte
	n := 0
	for sc.Scan() {
		n++
		text := sc.Bytes()
		if len(text) > MaxLine {
			return fmt.Errorf("line %d is longer than %d bytes", n, MaxLine)
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		if len(text) > cap(block)-len(block) {
			block = make([]byte, 0, max(blockSize, len(text)))
		}
		start := len(block)
		block = append(block, text...)
		each(n, block[start:len(block):len(block)])
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("after line %d: %w", n, err)
	}
	return nil
}
