// Package pgrouptest checks, in tests, that a job's program ended with its
// whole process group: a script that records its PIDs and resists SIGTERM,
// and polls of /proc for what is left of it.
package pgrouptest

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/require"
)

// StubbornScript ignores SIGTERM, as do the two sleeps it starts (ignored
// signals stay ignored across exec), and writes its own PID, which is its
// process group, then theirs, one a line, to $JETPOOL_TEST_PIDS.
const StubbornScript = `trap "" TERM
echo $$ >> "$JETPOOL_TEST_PIDS"
sleep 60 & echo $! >> "$JETPOOL_TEST_PIDS"
sleep 60 & echo $! >> "$JETPOOL_TEST_PIDS"
wait`

// ReadPIDs waits until the script has written its three PIDs and returns
// them, the group's leader first.
func ReadPIDs(t *testing.T, file string) []int {
	t.Helper()
	var pids []int
	natstest.Eventually(t, 10*time.Second, func() bool {
		data, _ := os.ReadFile(file)
		pids = pids[:0]
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, pid)
		}
		return len(pids) == 3
	}, "the script wrote its PIDs to %s", file)
	return pids
}

// Leftovers returns the processes alive of those the script recorded, and
// of the process group its first PID leads. Zombies count as ended: where
// PID 1 does not reap, an orphan stays one.
func Leftovers(t *testing.T, pids []int) []string {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var live []string
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(data)
		end := strings.LastIndexByte(s, ')') + 1
		f := strings.Fields(s[end:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if f[2] == strconv.Itoa(pids[0]) || slices.Contains(pids, pid) {
			live = append(live, s[:end]+" "+f[0])
		}
	}
	return live
}

// AllGone polls until none of Leftovers is alive; it fails the test if one
// still is after within.
func AllGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	began := time.Now()
	for {
		live := Leftovers(t, pids)
		if len(live) == 0 {
			return
		}
		if time.Since(began) > within {
			t.Errorf("processes of the job still alive %s after it ended: %v", within, live)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SkipWithoutProc skips a test on systems without /proc.
func SkipWithoutProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
}
