package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// LockFile is the file inside the store directory that a running broker
// holds an exclusive lock on. It contains the broker's process ID.
const LockFile = "jetpool.lock"

// errLocked is what tryLock returns when another holder has the lock.
var errLocked = errors.New("locked")

// storeLock is the exclusive lock on a store directory, held from before
// nats-server starts until after it has stopped.
type storeLock struct {
	f    *os.File
	once sync.Once
}

// lockStore creates dir if needed and locks it, so that no second broker
// runs on the same files. It fails at once, naming dir, when dir is not a
// usable directory or another broker holds the lock.
func lockStore(dir string) (*storeLock, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("broker: store directory %s is not a directory", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, storeError(dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, storeError(dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, storeError(dir, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("broker: store directory %s is in use by another broker%s", dir, holder(path))
		}
		return nil, storeError(dir, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err != nil {
		unlock(f)
		f.Close()
		return nil, storeError(dir, err)
	}
	if _, err := f.WriteAt(pid, 0); err != nil {
		unlock(f)
		f.Close()
		return nil, storeError(dir, err)
	}
	return &storeLock{f: f}, nil
}

// release clears the process ID and unlocks. The lock file itself stays:
// removing it would let two brokers lock two different files of one name.
func (l *storeLock) release() {
	l.once.Do(func() {
		_ = l.f.Truncate(0)
		unlock(l.f)
		l.f.Close()
	})
}

// storeError names dir and the cause, without repeating a path the cause
// already carries.
func storeError(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if filepath.Clean(pe.Path) == filepath.Clean(dir) {
			err = pe.Err
		}
	}
	return fmt.Errorf("broker: store directory %s is not usable: %w", dir, err)
}

// holder is " (pid N)" for the process ID in the lock file at path, or ""
// when it cannot be read.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}
