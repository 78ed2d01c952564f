package e2e_test

import (
	"os"
	"testing"

	"github.com/jetpool/jetpool/internal/proctest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		proctest.RemoveBinary()
		os.Exit(code)
	}))
}
