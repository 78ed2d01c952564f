// Package lines holds the rule by which jetpool reads jobs from text: one
// job per line.
package lines

import (
	"bytes"
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
