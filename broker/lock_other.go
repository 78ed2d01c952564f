//go:build !unix

package broker

import "os"

// tryLock does nothing where flock is not available: the store directory
// is not protected against a second broker there.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) {}
