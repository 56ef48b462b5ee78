package main

import (
	"io"

	"go.uber.org/zap"
)

// rawOutput are the commands whose stdout is data to keep byte for byte
// (an artifact, a CSV file), never redacted.
var rawOutput = map[string]bool{"artifact": true, "dataset synth": true}

// notes is where the command tells the person at the terminal what it
// does (see cli.Common.Notes): stderr lines, or log records with
// --log-format json.
func (e *env) notes() io.Writer {
	if e.notesW == nil {
		log := zap.NewNop()
		if e.app != nil && e.app.Log != nil {
			log = e.app.Log
		} else if l, err := e.c.NewLog(e.m.Stderr); err == nil {
			log = l
		}
		e.notesW = e.c.Notes(e.m.Stderr, log)
	}
	return e.notesW
}
