// Package handlers holds the built-in task kinds: noop and sleep for tests
// and benchmarks, and linear (its model in a subpackage); All gathers them.
// Programs registered on a worker (package program) become kinds through
// Programs.
package handlers
