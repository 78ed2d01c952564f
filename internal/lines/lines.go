// Package lines holds the rule by which jetpool reads jobs from text: one
// job per line.
package lines

import (
	"bufio"
	"bytes"
	"io"
	"iter"
)

// Jobs yields each non-blank line of data with its number (from 1). A line
// ends at \n or \r\n; a blank line (empty or white space only) is skipped
// but counted, so that the numbers of the lines after it do not shift.
// The lines share data's memory, capped so that appending copies.
func Jobs(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n := 1; len(data) > 0; n++ {
			text, rest, _ := bytes.Cut(data, []byte{'\n'})
			data = rest
			text = bytes.TrimSuffix(text, []byte{'\r'})
			if len(bytes.TrimSpace(text)) == 0 {
				continue
			}
			if !yield(n, text[:len(text):len(text)]) {
				return
			}
		}
	}
}

// MaxLine is the longest line Read accepts.
const MaxLine = 16 << 20

// blockSize is the size of the blocks Read copies lines into: small
// enough for the allocator's size classes, so a block costs no zeroing.
const blockSize = 32 << 10

// Read calls each for every non-blank line of r with its number, by the
// rule of Jobs, as it reads. The lines are copied into shared blocks, not
// one allocation each, and stay valid after Read returns. A line longer
// than MaxLine is an error.
func Read(r io.Reader, each func(n int, text []byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	var block []byte
	for n := 1; sc.Scan(); n++ {
		text := sc.Bytes()
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
	return sc.Err()
}
