package bus

import "strings"

// Subject prefixes. Only this file formats subjects.
const (
	sessionPrefix = "pika.s."
	// AllSessions matches every session event of one DJ's server.
	AllSessions = "pika.s.>"
)

// SessionSubject is where an event of type t in session sid is published.
func SessionSubject(sid string, t Type) string {
	return sessionPrefix + sid + "." + string(t)
}

// SessionFilter matches every event of one session.
func SessionFilter(sid string) string {
	return sessionPrefix + sid + ".>"
}

// SessionOfSubject returns the session id in a session subject, or "".
func SessionOfSubject(subject string) string {
	rest, ok := strings.CutPrefix(subject, sessionPrefix)
	if !ok {
		return ""
	}
	sid, _, _ := strings.Cut(rest, ".")
	return sid
}
