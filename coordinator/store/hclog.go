package store

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// hclogAdapter hands raft's hclog output to zerolog; it is the one place where
// the two meet. Raft's info chatter is logged at debug level, its warnings
// at info.
type hclogAdapter struct {
	log  zerolog.Logger
	name string
	args []interface{}
}

func newHclog(l zerolog.Logger) hclog.Logger {
	return &hclogAdapter{log: l}
}

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...interface{}) {
	var ev *zerolog.Event
	switch level {
	case hclog.Trace, hclog.Debug, hclog.Info:
		ev = h.log.Debug()
	case hclog.Warn:
		// elections and lost heartbeats are routine; errors are not
		ev = h.log.Info()
	case hclog.Error:
		ev = h.log.Error()
	default:
		ev = h.log.Debug()
	}
	if !ev.Enabled() {
		return
	}
	if h.name != "" {
		ev = ev.Str("raft", h.name)
	}
	all := append(append([]interface{}{}, h.args...), args...)
	for i := 0; i+1 < len(all); i += 2 {
		ev = ev.Interface(fmt.Sprint(all[i]), all[i+1])
	}
	ev.Msg(strings.ToLower(msg))
}

func (h *hclogAdapter) Trace(msg string, args ...interface{}) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...interface{}) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...interface{})  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...interface{})  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...interface{}) { h.Log(hclog.Error, msg, args...) }
func (h *hclogAdapter) IsTrace() bool                         { return false }
func (h *hclogAdapter) IsDebug() bool                         { return h.log.GetLevel() <= zerolog.DebugLevel }
func (h *hclogAdapter) IsInfo() bool                          { return h.log.GetLevel() <= zerolog.DebugLevel }
func (h *hclogAdapter) IsWarn() bool                          { return h.log.GetLevel() <= zerolog.WarnLevel }
func (h *hclogAdapter) IsError() bool                         { return h.log.GetLevel() <= zerolog.ErrorLevel }
func (h *hclogAdapter) ImpliedArgs() []interface{}            { return h.args }
func (h *hclogAdapter) Name() string                          { return h.name }
func (h *hclogAdapter) SetLevel(hclog.Level)                  {}
func (h *hclogAdapter) GetLevel() hclog.Level                 { return hclog.Debug }

func (h *hclogAdapter) With(args ...interface{}) hclog.Logger {
	c := *h
	c.args = append(append([]interface{}{}, h.args...), args...)
	return &c
}

func (h *hclogAdapter) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		h.Log(hclog.Info, strings.TrimSpace(string(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
