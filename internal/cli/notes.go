package cli

import (
	"bytes"
	"io"
	"sync"

	"go.uber.org/zap"
)

// maxNoteLine bounds a note line kept while waiting for its end.
const maxNoteLine = 64 << 10

// Notes returns where a command writes what it tells the person at the
// terminal (progress, what it created): stderr itself, credentials
// redacted, with console logs; with --log-format json, a writer that logs
// each line as an info record of log, so that stderr carries only JSON
// lines. Results never go here: they go to stdout.
func (c *Common) Notes(stderr io.Writer, log *zap.Logger) io.Writer {
	if c.LogFormat == "json" {
		return &lineLogger{log: log}
	}
	return c.Redactor().Writer(stderr)
}

// lineLogger logs every complete line written to it.
type lineLogger struct {
	log *zap.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 && len(l.buf) < maxNoteLine {
			break
		}
		if i < 0 {
			i = len(l.buf)
		}
		if line := bytes.TrimRight(l.buf[:i], "\r"); len(line) > 0 {
			l.log.Info(string(line))
		}
		l.buf = l.buf[min(i+1, len(l.buf)):]
	}
	return len(p), nil
}
