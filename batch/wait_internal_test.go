package batch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Wait's next look comes when the batch's falling pending count says its
// last job finishes; an unsealed batch, or one whose count did not fall,
// gives no estimate.
func TestTimeToDoneFollowsTheRate(t *testing.T) {
	prev := snapshotAt{pending: 1000, at: time.Now().Add(-time.Second)}
	eta, ok := timeToDone(prev, &Report{Pending: 500}, true)
	assert.True(t, ok)
	assert.InDelta(t, time.Second.Seconds(), eta.Seconds(), 0.2, "500 left at 500 a second")

	_, ok = timeToDone(prev, &Report{Pending: 500}, false)
	assert.False(t, ok, "not sealed: more jobs may come")
	_, ok = timeToDone(prev, &Report{Pending: 1000}, true)
	assert.False(t, ok, "no progress")
	_, ok = timeToDone(snapshotAt{}, &Report{Pending: 10}, true)
	assert.False(t, ok, "no earlier snapshot")
}
