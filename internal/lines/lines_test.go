package lines_test

import (
	"fmt"
	"testing"

	"github.com/jetpool/jetpool/internal/lines"
	"github.com/stretchr/testify/assert"
)

func TestJobsSkipsBlankLinesAndKeepsNumbers(t *testing.T) {
	var got []string
	for n, text := range lines.Jobs([]byte("a\n\n  \t\nb\r\n\nc")) {
		got = append(got, fmt.Sprintf("%d=%s", n, text))
	}
	assert.Equal(t, []string{"1=a", "4=b", "6=c"}, got)
}

func TestJobsLinesDoNotOverwriteEachOther(t *testing.T) {
	data := []byte("ab\ncd\n")
	var first []byte
	for _, text := range lines.Jobs(data) {
		first = text
		break
	}
	_ = append(first, 'X')
	assert.Equal(t, "ab\ncd\n", string(data), "appending to a line copies it")
}
