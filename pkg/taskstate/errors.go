package taskstate

import "errors"

// Sentinel errors. Backends and the Manager wrap them with detail; test with
// errors.Is.
var (
	// ErrNotFound: no task has the given id in the pool.
	ErrNotFound = errors.New("taskstate: task not found")
	// ErrLeaseLost: the task is no longer running under the caller's lease
	// (it was reaped, reset or committed by someone else). The write was
	// refused and changed nothing.
	ErrLeaseLost = errors.New("taskstate: lease lost")
	// ErrInvalidQuery: a query names an unknown field or operator, or holds a
	// malformed value such as a bad _id. The message names the dotted path.
	ErrInvalidQuery = errors.New("taskstate: invalid query")
	// ErrPayloadTooLarge: an encoded def or result is over the size cap.
	ErrPayloadTooLarge = errors.New("taskstate: payload too large")
	// ErrDecode: a stored payload could not be decoded.
	ErrDecode = errors.New("taskstate: cannot decode payload")
	// ErrInvalidStatus: a status string is not one of the five, or the
	// operation does not accept it.
	ErrInvalidStatus = errors.New("taskstate: invalid status")
	// ErrEmptyQuery: Remove was called with an empty query and without All.
	ErrEmptyQuery = errors.New("taskstate: refusing to remove every task of the pool without All")
	// ErrInvalidPool: a pool name is empty or has characters a backend cannot store.
	ErrInvalidPool = errors.New("taskstate: invalid pool name")
	// ErrInvalidTask: a new task is missing its kind or its def.
	ErrInvalidTask = errors.New("taskstate: invalid task")
)
