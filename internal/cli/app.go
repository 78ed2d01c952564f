// Package cli implements the jetpool command: flags, subcommands and the
// program-calling handlers operators use without writing Go.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/jetpool/jetpool/config"
	"github.com/spf13/cobra"
)

// app is one run of the command: its streams and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// stdinTerminal reports whether stdin is a terminal, where a command
	// that deletes asks before it does.
	stdinTerminal func() bool

	natsURL    string
	configPath string
	prefix     string
	logFormat  string
	logLevel   string
	client     config.Client // the connection's security flags
	log        *slog.Logger
}

// Main runs the command with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv,
		stdinTerminal: func() bool { return isTerminal(stdin) }}
	return a.main(ctx, args)
}

// main runs the command line args in a and returns the exit code.
func (a *app) main(ctx context.Context, args []string) int {
	stdin, stdout, stderr := a.stdin, a.stdout, a.stderr
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(err)
	if code == ExitOK {
		return code
	}
	if ctx.Err() != nil && (code == ExitFailure || code == ExitUnavailable) {
		// The signal cancelled the command's context: what failed then
		// failed because of it.
		code = ExitInterrupted
	}
	// A failed write to stderr leaves nowhere to report it: the exit code
	// still says what happened.
	if msg := exitMessage(err, code); msg != "" {
		_, _ = fmt.Fprintln(stderr, "jetpool:", msg)
	}
	if code == ExitUsage && cmd != nil && showUsage(err) {
		_, _ = fmt.Fprintf(stderr, "usage: %s\nrun '%s --help' for more\n", cmd.UseLine(), cmd.CommandPath())
	}
	return code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "jetpool",
		Short: "A job processor on NATS JetStream",
		Long: `jetpool runs worker pools and producers connected through NATS JetStream:
enqueue jobs, process them in any number of processes, and reconcile
batches to learn when they are done and what became of every job.

` + exitCodesHelp,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLogging()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	f := root.PersistentFlags()
	f.StringVar(&a.natsURL, "nats-url", "", "NATS server URL (default: $NATS_URL, then the config file, then nats://127.0.0.1:4222)")
	f.StringVar(&a.configPath, "config", "", "YAML configuration file")
	f.StringVar(&a.prefix, "prefix", "", "subject prefix of the installation (default: $JETPOOL_PREFIX, then the config file's prefix, then jetpool)")
	f.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	// The connection's security, named as in the nats CLI. Defaults are
	// never taken from the environment here, so --help shows no secret.
	f.StringVar(&a.client.User, "user", "", "NATS user, with --password (default: $NATS_USER, then nats_user)")
	f.StringVar((*string)(&a.client.Password), "password", "", "NATS password; prefer $NATS_PASSWORD, as flags show in ps (default: $NATS_PASSWORD, then nats_password)")
	f.StringVar((*string)(&a.client.Token), "token", "", "NATS token; prefer $NATS_TOKEN (default: $NATS_TOKEN, then nats_token)")
	f.StringVar(&a.client.NKey, "nkey", "", "NKey user seed FILE (default: $NATS_NKEY, then nats_nkey)")
	f.StringVar(&a.client.Creds, "creds", "", "credentials FILE: user JWT and seed (default: $NATS_CREDS, then nats_creds)")
	f.StringVar(&a.client.Cert, "tlscert", "", "client certificate FILE (PEM) for mutual TLS (default: $NATS_CERT, then nats_cert)")
	f.StringVar(&a.client.Key, "tlskey", "", "client private key FILE (PEM) (default: $NATS_KEY, then nats_key)")
	f.StringVar(&a.client.CA, "tlsca", "", "CA certificates FILE (PEM) that sign the servers' (default: $NATS_CA, then nats_ca, then the system's)")
	f.BoolVar(&a.client.TLSFirst, "tlsfirst", false, "TLS handshake before the server's INFO (server with handshake_first)")
	f.StringVar(&a.client.InboxPrefix, "inbox-prefix", "", "reply subject prefix instead of _INBOX, to match a user's permissions (default: $NATS_INBOX_PREFIX, then nats_inbox_prefix)")
	root.AddCommand(
		a.brokerCommand(),
		a.workCommand(),
		a.enqueueCommand(),
		a.produceCommand(),
		a.batchCommand(),
		a.statusCommand(),
		a.dlqCommand(),
		a.provisionCommand(),
		a.demoCommand(),
		a.benchCommand(),
		a.healthCommand(),
		a.dashboardCommand(),
		a.jobCommand(),
	)
	return root
}

func (a *app) setupLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError(fmt.Errorf("--log-level %q: use debug, info, warn or error", a.logLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.stderr, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.stderr, opts))
	default:
		return usageError(fmt.Errorf("--log-format %q: use text or json", a.logFormat))
	}
	return nil
}

// version is the module version the binary was built from, its commit
// when built from a checkout, and the nats-server version it embeds.
func version() string { return versionOf(debug.ReadBuildInfo()) }

// versionOf formats build information: the module version ("devel" for
// a build from a checkout), the VCS commit, its time and whether the tree
// had changes, the embedded nats-server and the Go release.
func versionOf(bi *debug.BuildInfo, ok bool) string {
	v, server := "devel", "unknown"
	if !ok || bi == nil {
		return v + " (nats-server " + server + ")"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/nats-io/nats-server/v2" {
			server = d.Version
		}
	}
	var vcs []string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			vcs = append(vcs, "commit "+s.Value[:min(12, len(s.Value))])
		case s.Key == "vcs.time":
			vcs = append(vcs, s.Value)
		case s.Key == "vcs.modified" && s.Value == "true":
			vcs = append(vcs, "modified")
		}
	}
	parts := []string{"nats-server " + server}
	if len(vcs) > 0 {
		parts = append([]string{strings.Join(vcs, ", ")}, parts...)
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	return v + " (" + strings.Join(parts, "; ") + ")"
}

// out is an output on stdout, for a command's flags to bind --json to.
func (a *app) out() output { return output{w: a.stdout} }

// indentedOut is out for a long document people read too: its JSON is
// indented.
func (a *app) indentedOut() output { return output{w: a.stdout, indent: true} }
