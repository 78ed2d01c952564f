package producer

import (
	"hash/fnv"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The digest is FNV-1a over each job ID followed by a NUL byte, exactly as
// hash/fnv computes it, so manifests written before stay comparable; it is
// extended incrementally and recomputed for a shorter prefix.
func TestDigestIsFNV1aOfIDs(t *testing.T) {
	ids := []string{"b-1", "b-2", "", "b-4", "züri-5"}
	want := func(n int) string {
		h := fnv.New64a()
		for _, id := range ids[:n] {
			h.Write([]byte(id))
			h.Write([]byte{0})
		}
		return strconv.FormatUint(h.Sum64(), 16)
	}
	s := &sequence{ids: ids}
	for _, n := range []int{2, 5, 3, 5, 0, 1} {
		assert.Equal(t, want(n), s.digest(n), "digest of the first %d IDs", n)
	}
}
