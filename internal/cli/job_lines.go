package cli

import (
	"bytes"
	"io"
	"runtime/debug"
	"strconv"

	"github.com/jetpool/jetpool/internal/lines"
	"github.com/jetpool/jetpool/producer"
)

// linesToItems reads a source's output or file as jobs, by the rule of
// [readJobLines]: job IDs are line numbers, which the manager prefixes with
// the cycle's batch.
func linesToItems(data []byte) ([]producer.Item, error) {
	return readJobLines(bytes.NewReader(data), "")
}

// jobLineChunk is how many items readJobLines gathers before it starts
// another chunk.
const jobLineChunk = 4096

// readJobLines reads one job per non-blank line of r (the rule of
// [lines.Read]); a job's ID is idPrefix and its line's number, so that IDs
// stay the same whether or not blank lines were removed.
//
// Reading holds every job until the enqueue, so it allocates little: the
// items are gathered in chunks and copied once into a slice of the right
// size rather than grown by doubling, and the IDs of a chunk are cut from
// one string.
func readJobLines(r io.Reader, idPrefix string) ([]producer.Item, error) {
	var (
		chunks [][]producer.Item
		cur    = make([]producer.Item, 0, jobLineChunk)
		ids    []byte // cur's IDs, back to back
		ends   = make([]int, 0, jobLineChunk)
	)
	// name gives cur's items their IDs.
	name := func() {
		all := string(ids)
		start := 0
		for i, end := range ends {
			cur[i].ID = all[start:end]
			start = end
		}
		ids, ends = ids[:0], ends[:0]
	}
	err := lines.Read(r, func(n int, text []byte) {
		if len(cur) == cap(cur) {
			name()
			chunks, cur = append(chunks, cur), make([]producer.Item, 0, jobLineChunk)
		}
		ids = strconv.AppendInt(append(ids, idPrefix...), int64(n), 10)
		ends = append(ends, len(ids))
		cur = append(cur, producer.Item{Payload: text})
	})
	name()
	if len(chunks) == 0 {
		return cur, err
	}
	items := make([]producer.Item, 0, len(chunks)*jobLineChunk+len(cur))
	for _, c := range append(chunks, cur) {
		items = append(items, c...)
	}
	return items, err
}

// readRarelyCollecting is readJobLines with garbage collection running only
// once the heap has grown fivefold, for a process that keeps what it reads:
// collecting sooner frees next to nothing.
func readRarelyCollecting(r io.Reader, idPrefix string) ([]producer.Item, error) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	return readJobLines(r, idPrefix)
}
