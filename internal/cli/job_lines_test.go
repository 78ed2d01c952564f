package cli

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// IDs are cut from one string per chunk of items: across several chunks,
// with blank lines among them, every item keeps its own line's number.
func TestJobLineIDsAcrossChunks(t *testing.T) {
	var in strings.Builder
	const n = 3*jobLineChunk + 17
	for i := 1; i <= n; i++ {
		if i%5 == 0 {
			in.WriteString("  \n") // blank: skipped, still counted
			continue
		}
		in.WriteString("payload " + strconv.Itoa(i) + "\n")
	}
	items, err := readJobLines(strings.NewReader(in.String()), "B-")
	require.NoError(t, err)
	require.Len(t, items, n-n/5)
	k := 0
	for i := 1; i <= n; i++ {
		if i%5 == 0 {
			continue
		}
		require.Equal(t, "B-"+strconv.Itoa(i), items[k].ID, "item %d", k)
		require.Equal(t, "payload "+strconv.Itoa(i), string(items[k].Payload), "item %d", k)
		k++
	}
}

// A chunk that ends exactly at the input's end, and one more line after it.
func TestJobLinesAtAChunkBoundary(t *testing.T) {
	for _, n := range []int{jobLineChunk, jobLineChunk + 1} {
		var in strings.Builder
		for i := 1; i <= n; i++ {
			in.WriteString("p" + strconv.Itoa(i) + "\n")
		}
		items, err := readJobLines(strings.NewReader(in.String()), "B-")
		require.NoError(t, err)
		require.Len(t, items, n)
		for _, i := range []int{0, jobLineChunk - 1, n - 1} {
			assert.Equal(t, "B-"+strconv.Itoa(i+1), items[i].ID, "%d lines, item %d", n, i)
			assert.Equal(t, "p"+strconv.Itoa(i+1), string(items[i].Payload), "%d lines, item %d", n, i)
		}
	}
}

// An empty input gives no items, and a read error keeps the items read.
func TestJobLinesEmptyAndFailing(t *testing.T) {
	items, err := readJobLines(strings.NewReader(""), "B-")
	require.NoError(t, err)
	assert.Empty(t, items)

	items, err = readJobLines(strings.NewReader("a\n"+strings.Repeat("x", 16<<20+1)+"\n"), "B-")
	require.Error(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, "B-1", items[0].ID)
}

// BenchmarkReadJobLines reads 100,000 lines as enqueue - does.
func BenchmarkReadJobLines(b *testing.B) {
	var in bytes.Buffer
	for i := 1; i <= 100000; i++ {
		in.WriteString(strconv.Itoa(i))
		in.WriteByte('\n')
	}
	data := in.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		items, err := readJobLines(bytes.NewReader(data), "f6d2df7be7b15e5cd35ca7c3-")
		if err != nil || len(items) != 100000 {
			b.Fatal(err, len(items))
		}
	}
	b.ReportMetric(float64(b.N)*100000/b.Elapsed().Seconds(), "lines/s")
}
