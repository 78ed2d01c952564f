// Package capped bounds what jetpool keeps of text it did not write: a
// program's output, a response body, an error shown in a table.
package capped

import "bytes"

// Buffer keeps the first Limit bytes written to it and drops the rest;
// writes never fail.
type Buffer struct {
	bytes.Buffer
	Limit int
}

// Write keeps what fits under Limit and reports all of p written.
func (b *Buffer) Write(p []byte) (int, error) {
	if room := b.Limit - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// Truncate returns b as a string, cut to n bytes with "..." when longer.
func Truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
