package gateway

import "fmt"

// Error codes sent to phones. Each comes with a sentence a person can read.
const (
	codeBadJSON           = "bad_json"
	codeBadUTF8           = "bad_utf8"
	codeBinaryUnsupported = "binary_unsupported"
	codeUnknownType       = "unknown_type"
	codeBadRequest        = "bad_request"
	codeUnknownSession    = "unknown_session"
	codeRateLimited       = "rate_limited"
	codeUnavailable       = "unavailable"
)

// Close codes, documented in docs/protocol.md.
const (
	closeGoingAway = 1001 // server shutting down: reconnect with backoff
	closePolicy    = 1008 // flood
	closeInternal  = 1011
	closeTryLater  = 1013 // MaxSockets reached
	closeTooSlow   = 4000 // outgoing queue overflowed: reconnect and resume
)

// rejection is a refused client frame: a code and a readable reason.
type rejection struct {
	code, reason string
}

func (r *rejection) Error() string { return r.code + ": " + r.reason }

func reject(code, format string, args ...any) *rejection {
	return &rejection{code: code, reason: fmt.Sprintf(format, args...)}
}
