package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/jetpool/jetpool/internal/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// produce takes its interval from the config file's pool when --every is
// not given, as work takes concurrency and timeout.
func TestProduceTakesIntervalFromConfig(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	src := filepath.Join(t.TempDir(), "items.txt")
	require.NoError(t, os.WriteFile(src, []byte("a\nb\n"), 0o600))
	cfg := writeConfig(t, "pools:\n  q:\n    interval: 300ms\n")
	startWorker(t, url, "--queue", "q", "--builtin", "noop", "--provision")
	res := runJetpool(t, context.Background(), "", "--nats-url", url, "--config", cfg, "produce", "--name", "n", "--queue", "q",
		"--cycles", "1", "--provision", "--source-file", src)
	require.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "completed=2")

	res = runJetpool(t, context.Background(), "", "--nats-url", url, "produce", "--name", "n", "--queue", "q",
		"--cycles", "1", "--source-file", src)
	assert.Equal(t, ExitUsage, res.code)
	assert.Contains(t, res.stderr, "give --every D or pools.q.interval in the config file")

	res = runJetpool(t, context.Background(), "", "--nats-url", url, "--config", cfg, "produce", "--name", "n", "--queue", "q",
		"--every", "0s", "--source-file", src)
	assert.Equal(t, ExitUsage, res.code)
	assert.Contains(t, res.stderr, "--every 0s must be positive")
}

// A zero concurrency or attempt count is refused as a negative one is,
// naming the value, before connecting.
func TestWorkRefusesCountsBelowOne(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "0"}, {"--concurrency", "-3"}, {"--max-attempts", "0"}, {"--max-attempts", "-1"},
	} {
		res := runJetpool(t, context.Background(), "", append([]string{"--nats-url", "nats://127.0.0.1:1", "work", "--queue", "q", "--builtin", "noop"}, args...)...)
		assert.Equal(t, ExitUsage, res.code, "%q", args)
		assert.Contains(t, res.stderr, args[0]+" "+args[1]+" must be at least 1", "%q", args)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1024": 1024, "512B": 512, "64KiB": 64 << 10, "2MiB": 2 << 20, "1GiB": 1 << 30, "1.5MiB": 3 << 19, "8mib": 8 << 20, " 4 KiB ": 4 << 10,
	} {
		got, err := parseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, msg := range map[string]string{
		"": "a size", "2MB": "use B, KiB, MiB or GiB", "lots": "a size", "-1KiB": "negative", "1.5B": "whole number of bytes", "99999999999GiB": "too large",
	} {
		_, err := parseByteSize(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), msg, in)
	}
	for n, want := range map[int64]string{0: "0", 1 << 20: "1MiB", 3 << 19: "1536KiB", 1000: "1000B", 2 << 30: "2GiB"} {
		assert.Equal(t, want, formatByteSize(n))
	}
}

// provision takes --max-msg-size with a unit, in the form its help prints
// the default.
func TestProvisionMaxMsgSizeWithUnit(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	res := runJetpool(t, context.Background(), "", "--nats-url", env.Server.ClientURL(), "provision", "q", "--max-msg-size", "2MiB")
	require.Equal(t, ExitOK, res.code, res.stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := env.JS.Stream(ctx, "JETPOOL_JOBS")
	require.NoError(t, err)
	assert.EqualValues(t, 2<<20, s.CachedInfo().Config.MaxMsgSize)

	res = runJetpool(t, context.Background(), "", "provision", "--help")
	assert.Contains(t, res.stdout, "(default 1MiB)")
	res = runJetpool(t, context.Background(), "", "--nats-url", env.Server.ClientURL(), "provision", "q", "--max-msg-size", "3GiB")
	assert.Equal(t, ExitUsage, res.code)
	assert.Contains(t, res.stderr, `invalid argument "3GiB" for "--max-msg-size"`)
}

// --prefix's help states the order loadConfig applies: the flag, then
// $JETPOOL_PREFIX, then the file.
func TestPrefixPrecedence(t *testing.T) {
	cfg := writeConfig(t, "prefix: fromfile\n")
	env := map[string]string{}
	a := &app{configPath: cfg, getenv: func(k string) string { return env[k] }}
	_, names, err := a.loadConfig()
	require.NoError(t, err)
	assert.Equal(t, "fromfile", names.Prefix())
	env["JETPOOL_PREFIX"] = "fromenv"
	_, names, err = a.loadConfig()
	require.NoError(t, err)
	assert.Equal(t, "fromenv", names.Prefix(), "the environment overrides the file")
	a.prefix = "fromflag"
	_, names, err = a.loadConfig()
	require.NoError(t, err)
	assert.Equal(t, "fromflag", names.Prefix())

	res := runJetpool(t, context.Background(), "", "--help")
	assert.Contains(t, res.stdout, "(default: $JETPOOL_PREFIX, then the config file's prefix, then jetpool)")
}

func TestVersionFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/jetpool/jetpool", Version: "(devel)"},
		Deps:      []*debug.Module{{Path: "github.com/nats-io/nats-server/v2", Version: "v2.15.2"}},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-05-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	assert.Equal(t, "devel (commit 0123456789ab, 2026-05-01T10:00:00Z, modified; nats-server v2.15.2; go1.26.8)", versionOf(bi, true))
	bi.Main.Version = "v1.2.0"
	bi.Settings[3].Value = "false"
	assert.Equal(t, "v1.2.0 (commit 0123456789ab, 2026-05-01T10:00:00Z; nats-server v2.15.2; go1.26.8)", versionOf(bi, true))
	bi.Settings = nil
	assert.Equal(t, "v1.2.0 (nats-server v2.15.2; go1.26.8)", versionOf(bi, true))
	assert.Equal(t, "devel (nats-server unknown)", versionOf(nil, false))

	res := runJetpool(t, context.Background(), "", "--version")
	assert.NotContains(t, res.stdout, "(devel)")
	assert.True(t, strings.HasPrefix(res.stdout, "jetpool version "), res.stdout)
}
