package cli

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/taskfleet/taskfleet/internal/redact"
)

// NewLogger returns a zap logger writing to w in format "json" or
// "console" at level ("debug", "info", "warn", "error"). Output goes through
// the redactor, so credentials never reach the log.
func NewLogger(w io.Writer, level, format string, r *redact.Redactor) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, Usagef("--log-level: unknown level %q (want debug, info, warn or error)", level)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console", "":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, Usagef("--log-format: unknown format %q (want json or console)", format)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(r.Writer(w)), lvl)
	return zap.New(core), nil
}

// NewLog returns the logger the common flags ask for, writing to w.
func (c *Common) NewLog(w io.Writer) (*zap.Logger, error) {
	return NewLogger(w, c.LogLevel, c.LogFormat, c.Redactor())
}
