package jetpool_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetpool/jetpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateNameRefusesNonTokens(t *testing.T) {
	for _, bad := range []string{"", "a.b", "a*", "a>", "with space", "tab\there", strings.Repeat("x", 256)} {
		err := jetpool.ValidateQueue(bad)
		require.Error(t, err, "%q", bad)
		assert.True(t, errors.Is(err, jetpool.ErrInvalidName))
		if bad != "" && len(bad) < 40 && !strings.ContainsAny(bad, "\t") {
			assert.Contains(t, err.Error(), bad)
		}
	}
	for _, good := range []string{"resize", "img-2024_01", strings.Repeat("x", 255), "ünïcode"} {
		assert.NoError(t, jetpool.ValidateJobID(good), good)
	}
}

func TestNamesDeriveFromPrefix(t *testing.T) {
	n, err := jetpool.NewNames("acme-prod")
	require.NoError(t, err)
	assert.Equal(t, "ACME_PROD_JOBS", n.WorkStream())
	assert.Equal(t, "ACME_PROD_DEAD", n.DeadStream())
	assert.Equal(t, "acme-prod.jobs.resize.b1", n.JobSubject("resize", "b1"))
	assert.Equal(t, "acme-prod.jobs.*.b1", n.BatchFilter("b1"))
	q, b, ok := n.SplitSubject("acme-prod.dead.resize.b1")
	assert.True(t, ok)
	assert.Equal(t, []string{"resize", "b1"}, []string{q, b})
	for _, subject := range []string{"other.jobs.resize.b1", "acme-prod.jobs.resize", "acme-prod.jobs.resize.b1.x",
		"acme-prod.queue.resize.b1", "acme-prodx.jobs.resize.b1", "acme-prod", "acme-prod.jobs"} {
		_, _, ok = n.SplitSubject(subject)
		assert.False(t, ok, "%q is not a job subject", subject)
	}

	_, err = jetpool.NewNames("bad/prefix")
	assert.ErrorContains(t, err, `"bad/prefix"`)
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"ok", "a.b", "", " ", "x>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if jetpool.ValidateName("queue", s) != nil {
			return
		}
		n := jetpool.DefaultNames()
		q, b, ok := n.SplitSubject(n.JobSubject(s, s))
		if !ok || q != s || b != s {
			t.Fatalf("valid name %q does not round-trip through a subject", s)
		}
	})
}

func TestOutcomeErrorsMatch(t *testing.T) {
	cause := errors.New("bad input")
	err := jetpool.Permanent(cause)
	assert.ErrorIs(t, err, jetpool.ErrPermanent)
	assert.ErrorIs(t, err, cause)

	var ra *jetpool.RetryAfterError
	require.ErrorAs(t, jetpool.RetryAfter(5e9, cause), &ra)
	assert.Equal(t, "5s", ra.Delay.String())
	assert.NotErrorIs(t, jetpool.RetryAfter(1, cause), jetpool.ErrPermanent)
}
