//go:build !linux

package program

import (
	"context"
	"os/exec"
)

// command returns the command running argv. Without Linux's parent-death
// signal there is no supervisor: the program runs directly.
func command(ctx context.Context, argv []string) *exec.Cmd {
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}
