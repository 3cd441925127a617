package peer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pion's levels as slog levels. pion's own factory prints only errors
// unless told otherwise, and its other levels are chatty: its warnings
// include routine noise (every peer connection that closes warns twice
// that its RTP and RTCP streams are already closed), its info is a
// play-by-play of every connection (about ten state changes a viewer), its
// debug and trace a line per STUN check or packet. So pion's errors are
// ours, and the rest, in pion's order, is below our debug level's first
// step: warnings show at log_level debug, the others only to a handler
// set lower still.
const (
	levelError = slog.LevelError
	levelWarn  = slog.LevelDebug
	levelInfo  = slog.LevelDebug - 1
	levelDebug = slog.LevelDebug - 2
	levelTrace = slog.LevelDebug - 4
)

// LoggerFactory adapts l to pion's logger factory: every message of pion
// (its WebRTC API, ICE agents and muxes, DTLS, SCTP, interceptors) goes to
// l, with the pion scope it came from ("ice", "dtls", "pc", ...) as the
// "pion" attribute, none to stderr. A message is formatted only when l
// takes its level.
func LoggerFactory(l *slog.Logger) logging.LoggerFactory {
	return loggerFactory{l: l}
}

type loggerFactory struct{ l *slog.Logger }

func (f loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return &leveledLogger{l: f.l.With("pion", scope)}
}

// leveledLogger is one pion scope's logger.
type leveledLogger struct{ l *slog.Logger }

var _ logging.LeveledLogger = (*leveledLogger)(nil)

func (p *leveledLogger) log(level slog.Level, msg string) {
	ctx := context.Background()
	if p.l.Enabled(ctx, level) {
		p.l.Log(ctx, level, msg)
	}
}

func (p *leveledLogger) logf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if p.l.Enabled(ctx, level) {
		p.l.Log(ctx, level, fmt.Sprintf(format, args...))
	}
}

func (p *leveledLogger) Trace(msg string)                  { p.log(levelTrace, msg) }
func (p *leveledLogger) Tracef(format string, args ...any) { p.logf(levelTrace, format, args...) }
func (p *leveledLogger) Debug(msg string)                  { p.log(levelDebug, msg) }
func (p *leveledLogger) Debugf(format string, args ...any) { p.logf(levelDebug, format, args...) }
func (p *leveledLogger) Info(msg string)                   { p.log(levelInfo, msg) }
func (p *leveledLogger) Infof(format string, args ...any)  { p.logf(levelInfo, format, args...) }
func (p *leveledLogger) Warn(msg string)                   { p.log(levelWarn, msg) }
func (p *leveledLogger) Warnf(format string, args ...any)  { p.logf(levelWarn, format, args...) }
func (p *leveledLogger) Error(msg string)                  { p.log(levelError, msg) }
func (p *leveledLogger) Errorf(format string, args ...any) { p.logf(levelError, format, args...) }
