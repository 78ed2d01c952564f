// Package sample is the input of the surface test.
package sample

import "time"

// Limit is documented.
const Limit = 3 // trailing

const hidden = 4

// Kind is an enumeration.
type Kind int

// Kinds.
const (
	KindA Kind = iota
	KindB
	kindC
)

// Options carry settings.
type Options struct {
	// Wait is documented.
	Wait  time.Duration
	inner int
	Name  string `json:"name"`
}

type private struct{ X int }

// X is a method of an unexported type and is left out.
func (private) X() {}

// Run does things.
func (o *Options) Run(n int) error {
	return nil
}

func (o *Options) stop() {}

// Doer does.
type Doer interface {
	Do() error
	undo()
}

// Err is an error.
var Err, errHidden = error(nil), error(nil)
