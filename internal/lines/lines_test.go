package lines_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetpool/jetpool/internal/lines"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestReadFollowsTheRuleOfJobs(t *testing.T) {
	data := "a\n\n  \t\nb\r\n\nc"
	var want, got []string
	for n, text := range lines.Jobs([]byte(data)) {
		want = append(want, fmt.Sprintf("%d=%s", n, text))
	}
	var kept [][]byte
	err := lines.Read(strings.NewReader(data), func(n int, text []byte) {
		got = append(got, fmt.Sprintf("%d=%s", n, text))
		kept = append(kept, text)
	})
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, "a", string(kept[0]), "lines stay valid after Read")
}

func TestReadKeepsManyLinesApart(t *testing.T) {
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&in, "line-%d-%s\n", i, strings.Repeat("x", i%50))
	}
	var got []string
	require.NoError(t, lines.Read(strings.NewReader(in.String()), func(_ int, text []byte) { got = append(got, string(text)) }))
	require.Len(t, got, 5000)
	for i, g := range got {
		require.Equal(t, fmt.Sprintf("line-%d-%s", i, strings.Repeat("x", i%50)), g)
	}
}

func TestReadRefusesAnOverlongLine(t *testing.T) {
	long := strings.Repeat("x", lines.MaxLine+1)
	err := lines.Read(strings.NewReader("a\n"+long+"\n"), func(int, []byte) {})
	require.Error(t, err)
}
