package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/redact"
)

func TestExitCodesAndRedaction(t *testing.T) {
	for _, tc := range []struct {
		err    error
		format string
		code   int
	}{
		{fmt.Errorf("dial mongdb://bob:Sec r3t@h/: refused"), "console", cli.ExitFailure},
		{fmt.Errorf("dial mongdb://bob:Sec r3t@h/: refused"), "json", cli.ExitFailure},
		{fmt.Errorf("%w: 2 of 3 tasks (mongodb://h/?tlsCertificateKeyFilePassword=Sec%%20r3t)", cli.ErrTasksFailed), "json", cli.ExitFailed},
		{cli.Usagef("--store: no store at x (mongodb://u:Sec r3t@h)"), "console", cli.ExitUsage},
	} {
		var buf bytes.Buffer
		require.Equal(t, tc.code, cli.ExitFormat(&buf, "prog", tc.err, tc.format, nil), "%v", tc.err)
		require.NotContains(t, buf.String(), "r3t", "%s", buf.String())
		require.Contains(t, buf.String(), "***")
		if tc.format == "json" {
			require.True(t, strings.HasPrefix(buf.String(), `{"level":"error"`), buf.String())
		}
	}

	// A password given by flag, quoted without its URI: only the program's
	// redactor knows it.
	var known bytes.Buffer
	r := redact.New([]string{"nats://h:4222"}, "n4ts-pa55")
	require.Equal(t, cli.ExitFailure, cli.ExitFormat(&known, "prog", errors.New("auth failed for password n4ts-pa55"), "json", r))
	require.NotContains(t, known.String(), "n4ts-pa55")

	var buf bytes.Buffer
	code := func() (code int) {
		defer cli.Recover(&buf, "prog", &code)
		panic(errors.New("connect mongdb://bob:Sec r3t@h/"))
	}()
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, buf.String(), "prog: panic: connect mongdb://***@h/")
	require.NotContains(t, buf.String(), "r3t")
}
