package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// output is where a command prints its result: on stdout, as one JSON
// object with --json, as text for people otherwise. Every command with
// --json prints through it, so that scripts read every result the same
// way. The object is on one line, but for the long documents of dlq show
// and bench, which people read too: those are indented.
type output struct {
	w      io.Writer
	json   bool
	indent bool
}

// jsonFlag binds --json; usage says what the object holds.
func (o *output) jsonFlag(f *pflag.FlagSet, usage string) {
	f.BoolVar(&o.json, "json", false, usage)
}

// print writes v as JSON with --json, else what text writes.
func (o output) print(v any, text func(w io.Writer) error) error {
	if o.json {
		return o.printJSON(v)
	}
	return o.text(text)
}

// printLine writes v as JSON with --json, else line.
func (o output) printLine(v any, line string) error { return o.print(v, writeLine(line)) }

// writeLine is a text writer for print or text that writes line.
func writeLine(line string) func(w io.Writer) error {
	return func(w io.Writer) error {
		_, err := fmt.Fprintln(w, line)
		return err
	}
}

// printJSON writes v as one JSON object.
func (o output) printJSON(v any) error {
	enc := json.NewEncoder(o.w)
	if o.indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// text runs write on a writer that keeps the first write error, and
// returns write's error or that one: a closed or full stdout fails the
// command. write may so print with fmt.Fprint and leave their errors to w.
func (o output) text(write func(w io.Writer) error) error {
	ew := &errWriter{w: o.w}
	if err := write(ew); err != nil {
		return err
	}
	return ew.err
}

// errWriter writes to w until a write fails, then keeps that error and
// writes nothing more.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// printURL prints the URL a long-running command serves on. A server
// keeps serving when its stdout is gone: the failure is logged, the URL is
// in the log line beside it.
func (a *app) printURL(url string) {
	if err := a.out().text(writeLine(url)); err != nil {
		a.log.Warn("URL not printed on stdout", "url", url, "error", err)
	}
}
