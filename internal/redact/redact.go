// Package redact keeps secrets out of what jetpool prints.
package redact

import "strings"

// URL removes the user, password or token from each of the
// comma-separated server URLs, for printing.
func URL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, s := range parts {
		scheme := ""
		if before, rest, ok := strings.Cut(s, "://"); ok {
			scheme, s = before+"://", rest
		}
		end := strings.IndexAny(s, "/?#")
		if end < 0 {
			end = len(s)
		}
		if at := strings.LastIndex(s[:end], "@"); at >= 0 {
			s = "REDACTED@" + s[at+1:]
		}
		parts[i] = scheme + s
	}
	return strings.Join(parts, ",")
}
