package lines_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jetpool/jetpool/internal/lines"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func read(t *testing.T, in string) []string {
	t.Helper()
	var got []string
	require.NoError(t, lines.Read(strings.NewReader(in), func(n int, text []byte) {
		got = append(got, fmt.Sprintf("%d=%s", n, text))
	}))
	return got
}

func TestReadSkipsBlankLinesAndKeepsNumbers(t *testing.T) {
	assert.Equal(t, []string{"1=a", "4=b", "6=c"}, read(t, "a\n\n  \t\nb\r\n\nc"))
	assert.Empty(t, read(t, ""))
	assert.Equal(t, []string{"1=x"}, read(t, "x\n"))
}

func TestReadLinesDoNotOverwriteEachOther(t *testing.T) {
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&in, "line-%d-%s\n", i, strings.Repeat("x", i%50))
	}
	var got [][]byte
	require.NoError(t, lines.Read(strings.NewReader(in.String()), func(_ int, text []byte) { got = append(got, text) }))
	require.Len(t, got, 5000)
	_ = append(got[0], 'X') // capped: appending copies
	for i, g := range got {
		require.Equal(t, fmt.Sprintf("line-%d-%s", i, strings.Repeat("x", i%50)), string(g))
	}
}

func TestReadAcceptsMaxLineAndRefusesLonger(t *testing.T) {
	longest := strings.Repeat("x", lines.MaxLine)
	for _, ending := range []string{"", "\n", "\r\n"} {
		var got int
		err := lines.Read(strings.NewReader("a\n"+longest+ending), func(n int, text []byte) {
			if n == 2 {
				got = len(text)
			}
		})
		require.NoError(t, err, "ending %q", ending)
		assert.Equal(t, lines.MaxLine, got, "ending %q", ending)
	}
	err := lines.Read(strings.NewReader("a\n"+longest+"x\n"), func(int, []byte) {})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2")
}
