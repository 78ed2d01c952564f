package cli

import (
	"context"
	"errors"
	"strings"

	"github.com/jetpool/jetpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Exit codes of the command. Scripts branch on them, so each means one
// thing; 64 and 69 are the sysexits.h codes for usage and an unavailable
// service, 130 the shell's code for a process stopped by SIGINT.
const (
	ExitOK          = 0   // success; for batch wait, every job completed
	ExitFailure     = 1   // an error not covered below
	ExitTimeout     = 2   // a command's --timeout (batch wait, health) or own deadline ran out
	ExitDead        = 3   // batch wait finished and some jobs are dead
	ExitUsage       = 64  // bad flags, arguments or configuration
	ExitUnavailable = 69  // NATS unreachable, JetStream not enabled or unavailable
	ExitInterrupted = 130 // stopped by SIGINT or SIGTERM before finishing
)

// exitCodesHelp is the table in `jetpool --help`; keep the "Exit codes"
// section of docs/cli.md in step with it.
const exitCodesHelp = `Exit codes:
  0    success; for batch wait, every job completed
  1    an error not covered below (batch not found, jobs not enqueued, ...)
  2    timeout: a command's --timeout (batch wait, health) or its own
       deadline (status) ran out
  3    batch wait finished and some jobs are dead (see jetpool dlq ls QUEUE)
  64   usage: bad flags, arguments or configuration
  69   unavailable: NATS unreachable, JetStream not enabled or not answering
  130  interrupted by SIGINT or SIGTERM before finishing`

// exitError carries an explicit exit code up to Main.
type exitError struct {
	code  int
	err   error
	usage bool // Main prints the command's usage line after the message
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

// usageError is a bad argument or flag: it exits ExitUsage, and Main
// follows its message with the command's usage line.
func usageError(err error) error { return &exitError{code: ExitUsage, err: err, usage: true} }

// showUsage reports whether err, exiting ExitUsage, is about the command
// line (arguments or flags), not about a configuration file or credentials.
func showUsage(err error) bool {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.usage
	}
	return isUsageError(err)
}

// unavailableErrors mean that NATS or JetStream could not serve a request:
// nothing reachable, the connection gone, no JetStream, no stream leader, or
// a request that timed out talking to the cluster.
var unavailableErrors = []error{
	nats.ErrNoServers,
	nats.ErrConnectionClosed,
	nats.ErrDisconnected,
	nats.ErrNoResponders,
	nats.ErrTimeout,
	jetstream.ErrNoStreamResponse,
	jetstream.ErrJetStreamNotEnabled,
	jetstream.ErrJetStreamNotEnabledForAccount,
	jetstream.ErrServerShutdown,
	// A request's own deadline: commands whose deadline is theirs to
	// report (batch wait --timeout) return an explicit ExitTimeout instead.
	context.DeadlineExceeded,
}

// exitCode classifies the error a command returned. An explicit exitError
// wins; otherwise the cause decides. Main turns a failure after the signal
// context ended into ExitInterrupted, since that is what caused it.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUnavailable(err) {
		return ExitUnavailable
	}
	if isUsageError(err) {
		return ExitUsage
	}
	return ExitFailure
}

func isUnavailable(err error) bool {
	for _, target := range unavailableErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503
}

func isUsageError(err error) bool {
	if errors.Is(err, jetpool.ErrInvalidName) {
		return true
	}
	// cobra's argument checks return plain errors.
	s := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "unknown shorthand", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// exitMessage is what Main prints for err exiting with code, or "".
func exitMessage(err error, code int) string {
	msg := err.Error()
	if code != ExitInterrupted {
		return msg
	}
	if errors.Is(err, context.Canceled) || msg == "" {
		// The cancelled request says nothing the signal did not.
		return "interrupted"
	}
	if strings.Contains(msg, "interrupted") {
		return msg
	}
	return "interrupted: " + msg
}
