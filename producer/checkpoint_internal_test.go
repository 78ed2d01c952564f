package producer

import (
	"testing"

	"github.com/jetpool/jetpool/internal/manifest"
	"github.com/stretchr/testify/assert"
)

// A checkpoint whose answer never came may have been written: the end of
// the enqueue counts its may_repeat once, whichever way it went.
func TestMayRepeatOfAnUnconfirmedCheckpointIsCountedOnce(t *testing.T) {
	c := &checkpointer{mayRepeatRecorded: 3, unconfirmed: &checkpointWrite{op: "cp", mayRepeat: 7}}
	assert.Equal(t, 7, c.mayRepeatIn(&manifest.Manifest{Ops: []string{"x", "cp"}}), "written after all")
	assert.Equal(t, 3, c.mayRepeatIn(&manifest.Manifest{Ops: []string{"x"}}), "never written")
	c.unconfirmed = nil
	assert.Equal(t, 3, c.mayRepeatIn(&manifest.Manifest{Ops: []string{"cp"}}))
}
