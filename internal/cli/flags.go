package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// replacedBy is the annotation of a hidden flag kept for scripts written
// before it was renamed; its value says what to write instead.
const replacedBy = "jetpool-replaced-by"

// oldSpelling registers old as a hidden spelling of the flag named name,
// setting the same value, for scripts written before the rename.
func oldSpelling(f *pflag.FlagSet, old, name string) {
	nf := f.Lookup(name)
	f.Var(nf.Value, old, nf.Usage)
	hideOld(f, old, "--"+name)
}

// hideOld hides the flag old, which instead names: such a flag still
// works, and warnOldSpellings says what to write instead.
func hideOld(f *pflag.FlagSet, old, instead string) {
	f.Lookup(old).Hidden = true
	f.Lookup(old).Annotations = map[string][]string{replacedBy: {instead}}
}

// warnOldSpellings logs a warning for each old spelling of a flag the
// command line used.
func (a *app) warnOldSpellings(cmd *cobra.Command) {
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if instead := f.Annotations[replacedBy]; len(instead) > 0 {
			a.log.Warn("--"+f.Name+" is an old spelling: write "+instead[0]+" instead", "flag", f.Name)
		}
	})
}

// parseInterleaved parses the arguments cobra left to a command whose
// flag parsing stops at the first argument, so that the program after
// --exec or --source-cmd keeps flags of its own: arguments before that
// program are positional (QUEUE...), flags among them are parsed, and once
// the flag rest is set every argument left is the program's. The logging
// flags may come late too, so logging is set up again.
func (a *app) parseInterleaved(cmd *cobra.Command, args []string, rest *bool) (positional, program []string, err error) {
	f := cmd.Flags()
	for len(args) > 0 && !*rest {
		if s := args[0]; s == "-" || !strings.HasPrefix(s, "-") {
			positional, args = append(positional, s), args[1:]
			continue
		}
		if err := f.Parse(args); err != nil {
			return nil, nil, usageError(err)
		}
		args = f.Args()
	}
	if err := a.setupLogging(); err != nil {
		return nil, nil, err
	}
	return positional, args, nil
}

// helpAsked reports whether --help came among the arguments
// parseInterleaved parsed, after cobra's own parsing stopped.
func helpAsked(cmd *cobra.Command) bool {
	h := cmd.Flags().Lookup("help")
	return h != nil && h.Changed
}
