package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Known secrets, each given through one input channel. None may appear in
// anything the command prints: results, logs, errors or help.
const (
	secretFlagPassword   = "flagPW-q7Zk2x"
	secretEnvPassword    = "envPW-r8Yj3w"
	secretConfigPassword = "cfgPW-s9Xh4v"
	secretURLPassword    = "urlPW-t1Wg5u"
	secretServerPassword = "srvPW-u2Vf6t"
	secretWrongPassword  = "badPW-v3Ue7s"
	secretFlagToken      = "flagTOK-w4Td8r"
	secretEnvToken       = "envTOK-x5Sc9q"
	secretConfigToken    = "cfgTOK-y6Rb1p"
	secretDashboardToken = "dashTOK-q8Zw3mK5vLx2"
)

// secretChannel is one way of handing the command credentials.
type secretChannel struct {
	name string
	args []string          // global flags
	env  map[string]string // environment
	long bool              // also run the long-running commands
}

// secretScan collects every secret handed out and checks output for them.
type secretScan struct {
	secrets []string
}

func (s *secretScan) add(secret string) { s.secrets = append(s.secrets, secret) }

func (s *secretScan) check(t *testing.T, what, out string) {
	t.Helper()
	for _, secret := range s.secrets {
		// A secret cut short leaks too: look for its first half as well.
		for _, part := range []string{secret, secret[:len(secret)/2]} {
			if strings.Contains(out, part) {
				t.Errorf("%s printed a secret (%q):\n%s", what, part, out)
			}
		}
	}
}

// runFor runs the command with stdin for at most d and returns all it printed.
func runFor(d time.Duration, stdin string, args ...string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var stdout, stderr natstest.Buffer
	code := Main(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// allCommandPaths lists every subcommand, nested ones included, as args.
func allCommandPaths() [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk((&app{getenv: os.Getenv}).rootCommand(), nil)
	return out
}

// Every subcommand runs with known secrets in its flags, its environment
// and its config file, connecting, failing to connect and failing
// validation, at debug level; its output, --help included, holds none.
func TestNoSecretInAnyOutput(t *testing.T) {
	scan := &secretScan{}
	for _, s := range []string{secretFlagPassword, secretEnvPassword, secretConfigPassword, secretURLPassword,
		secretServerPassword, secretWrongPassword, secretFlagToken, secretEnvToken, secretConfigToken, secretDashboardToken} {
		scan.add(s)
	}
	dir := t.TempDir()
	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	userPub, _ := user.PublicKey()
	seed, _ := user.Seed()
	scan.add(string(seed))
	seedFile := filepath.Join(dir, "user.nk")
	require.NoError(t, os.WriteFile(seedFile, seed, 0o600))
	op := newOperator(t)
	expiredCreds, credsSeed := op.creds(t, "old", time.Now().Add(-time.Hour))
	scan.add(credsSeed)
	ca := newTestCA(t, "secrets")
	cert, key := ca.issue(t, "client", true)
	keyPEM, err := os.ReadFile(key)
	require.NoError(t, err)
	keyBody := strings.Join(strings.Split(string(keyPEM), "\n")[1:2], "")
	scan.add(keyBody)

	srv := startServer(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "flag", Password: secretFlagPassword},
			{Username: "env", Password: secretEnvPassword},
			{Username: "cfg", Password: secretConfigPassword},
			{Username: "url", Password: secretURLPassword},
		}
		o.Nkeys = []*server.NkeyUser{{Nkey: userPub}}
	})
	url := srv.ClientURL()
	urlWithPassword := strings.Replace(url, "nats://", "nats://url:"+secretURLPassword+"@", 1)
	cfgPassword := writeConfig(t, "nats_url: "+url+"\nnats_user: cfg\nnats_password: "+secretConfigPassword+"\n")
	cfgToken := writeConfig(t, "nats_url: "+url+"\nnats_token: "+secretConfigToken+"\n")

	// Give the commands something to find: a queue with a job and a dead one.
	code, out := runFor(30*time.Second, "a\n", "--nats-url", url, "--nkey", seedFile, "provision", "q")
	require.Equal(t, ExitOK, code, out)
	code, out = runFor(30*time.Second, "a\nb\n", "--nats-url", url, "--nkey", seedFile, "enqueue", "q", "-", "--batch", "b1")
	require.Equal(t, ExitOK, code, out)

	channels := []secretChannel{
		{name: "password flag", args: []string{"--nats-url", url, "--user", "flag", "--password", secretFlagPassword}, long: true},
		{name: "password env", args: []string{"--nats-url", url}, env: map[string]string{"NATS_USER": "env", "NATS_PASSWORD": secretEnvPassword}, long: true},
		{name: "password config", args: []string{"--config", cfgPassword}, long: true},
		{name: "password in URL", args: []string{"--nats-url", urlWithPassword}, long: true},
		{name: "password in URL from env", env: map[string]string{"NATS_URL": urlWithPassword}},
		{name: "wrong password in URL", args: []string{"--nats-url", strings.Replace(url, "nats://", "nats://url:"+secretWrongPassword+"@", 1)}},
		{name: "wrong password in second URL", args: []string{"--nats-url", "nats://127.0.0.1:1," + strings.Replace(url, "nats://", "nats://url:"+secretWrongPassword+"@", 1)}},
		{name: "nkey file", args: []string{"--nats-url", url, "--nkey", seedFile}},
		{name: "wrong password", args: []string{"--nats-url", url, "--user", "flag", "--password", secretWrongPassword}},
		{name: "token flag refused", args: []string{"--nats-url", url, "--token", secretFlagToken}},
		{name: "token env refused", args: []string{"--nats-url", url}, env: map[string]string{"NATS_TOKEN": secretEnvToken}},
		{name: "token config refused", args: []string{"--config", cfgToken}},
		{name: "two ways", args: []string{"--config", cfgPassword, "--token", secretFlagToken}, env: map[string]string{"NATS_TOKEN": secretEnvToken}},
		{name: "password without user", args: []string{"--nats-url", url}, env: map[string]string{"NATS_PASSWORD": secretEnvPassword}},
		{name: "URL and token", args: []string{"--nats-url", urlWithPassword, "--token", secretFlagToken}},
		{name: "expired creds", args: []string{"--nats-url", url, "--creds", expiredCreds}},
		{name: "seed as creds", args: []string{"--nats-url", url, "--creds", seedFile}},
		{name: "key as seed", args: []string{"--nats-url", url, "--nkey", key}},
		{name: "TLS to a plain server", args: []string{"--nats-url", url, "--nkey", seedFile, "--tlsca", ca.File, "--tlscert", cert, "--tlskey", key}},
		{name: "seed as TLS key", args: []string{"--nats-url", url, "--tlscert", cert, "--tlskey", seedFile}},
		{name: "bad URL with password", args: []string{"--nats-url", "nats://u:" + secretURLPassword + "@bad host:4222"}},
	}
	quick := [][]string{
		{"provision", "q"},
		{"enqueue", "q", "payload"},
		{"enqueue", "q", "-", "--batch", "b2"},
		{"batch", "show", "b1"},
		{"batch", "show", "b1", "--json"},
		{"batch", "wait", "b1", "--timeout", "500ms"},
		{"status"},
		{"status", "--json"},
		{"dlq", "ls", "q"},
		{"dlq", "show", "q", "nope"},
		{"dlq", "retry", "q", "--all"},
		{"dlq", "purge", "q", "--force"},
		{"job", "show", "nope-1"},
		{"bench", "--jobs", "0"},
		{"work", "--queue", "bad queue", "--builtin", "noop"},
	}
	long := [][]string{
		{"work", "--queue", "q", "--builtin", "fail=1", "--max-attempts", "1"},
		{"produce", "--name", "m", "--queue", "q", "--every", "200ms", "--source-file", "ITEMS"},
		{"broker", "--store", "STORE", "--listen", "127.0.0.1:-1"},
		{"dashboard", "--listen", "127.0.0.1:0"},
		{"dashboard", "--listen", "0.0.0.0:0", "--dashboard-token", secretDashboardToken},
	}
	for _, ch := range channels {
		t.Run(ch.name, func(t *testing.T) {
			for k, v := range ch.env {
				t.Setenv(k, v)
			}
			global := append([]string{"--log-level", "debug"}, ch.args...)
			for _, cmd := range quick {
				code, out := runFor(10*time.Second, "x\ny\n", append(global, cmd...)...)
				t.Logf("%v: exit %d", cmd, code)
				scan.check(t, strings.Join(cmd, " "), out)
			}
			if ch.long {
				for _, cmd := range long {
					cmd = append([]string(nil), cmd...)
					for i, a := range cmd {
						switch a {
						case "STORE":
							cmd[i] = t.TempDir()
						case "ITEMS":
							cmd[i] = filepath.Join(t.TempDir(), "items.txt")
							require.NoError(t, os.WriteFile(cmd[i], []byte("x\ny\n"), 0o600))
						}
					}
					code, out := runFor(1500*time.Millisecond, "", append(global, cmd...)...)
					t.Logf("%v: exit %d", cmd, code)
					scan.check(t, strings.Join(cmd, " "), out)
				}
			}
			for _, path := range allCommandPaths() {
				_, out := runFor(5*time.Second, "", append(append(global, path...), "--help")...)
				scan.check(t, strings.Join(path, " ")+" --help", out)
			}
		})
	}

	// A broker whose server config holds a password, provisioning with it.
	conf := filepath.Join(dir, "server.conf")
	require.NoError(t, os.WriteFile(conf, []byte(`authorization { users = [ {user: admin, password: "`+secretServerPassword+`"} ] }`), 0o600))
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	Main(ctx, []string{"--log-level", "debug", "--user", "admin", "--password", secretServerPassword,
		"broker", "--store", t.TempDir(), "--listen", "127.0.0.1:-1", "--server-config", conf}, strings.NewReader(""), &stdout, &stderr)
	assert.Contains(t, stdout.String(), "nats://", "the broker ran: %s", stderr.String())
	scan.check(t, "broker --server-config", stdout.String()+stderr.String())
}
