package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersionAndOnePrefix(t *testing.T) {
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	require.Equal(t, 0, m.Run(context.Background(), []string{"--version"}), errb.String())
	require.True(t, strings.HasPrefix(out.String(), "worker "), "version line: %q", out.String())
	require.Contains(t, out.String(), "go1.")

	code, stderr := runWorker(context.Background(), t, nil, "--bogus")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "worker: flag provided but not defined: -bogus")
	require.NotContains(t, stderr, "worker: worker:", "the program's name is printed once")
}
