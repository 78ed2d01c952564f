package apicheck

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSurfaceKeepsOnlyExportedDeclarations(t *testing.T) {
	got, err := Surface("testdata/sample")
	require.NoError(t, err)
	want := `package sample

const (
	KindA Kind = iota
	KindB
)

const Limit = 3

func (o *Options) Run(n int) error

type Doer interface {
	Do() error
}

type Kind int

type Options struct {
	Wait time.Duration

	Name string ` + "`json:\"name\"`" + `
}

var Err = error(nil)
`
	require.Equal(t, want, got)
}
