// Package handlers holds the built-in task kinds: noop and sleep for tests
// and benchmarks. The exec and linear kinds live in subpackages; Builtins
// gathers every kind a worker can serve.
package handlers
