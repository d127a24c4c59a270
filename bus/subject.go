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

// Subjects of crowd interaction. Actions are stored (stream ActionsStream);
// tallies, presence and commands are plain NATS messages.
const (
	actionPrefix   = "pika.a."
	tallyPrefix    = "pika.t."
	presencePrefix = "pika.p."
	commandPrefix  = "pika.c."
	sourcePrefix   = "pika.d."
	// AllActions, AllTallies, AllPresence and AllCommands match every session.
	AllActions  = "pika.a.>"
	AllTallies  = "pika.t.*"
	AllPresence = "pika.p.*"
	AllCommands = "pika.c.*"
	// AllSourceStatus matches every session's detector status.
	AllSourceStatus = "pika.d.*"
)

// SourceSubject carries the DJ side's detector status for the session's
// console (SourceStatus).
func SourceSubject(sid string) string { return sourcePrefix + sid }

// ActionSubject is where a dancer action of session sid is published.
func ActionSubject(sid string, k ActionKind) string { return actionPrefix + sid + "." + string(k) }

// ActionBatchSubject is where a batch of the session's actions (a JSON
// array, several kinds) is published.
func ActionBatchSubject(sid string) string { return actionPrefix + sid + ".batch" }

// ActionFilter matches every action of one session.
func ActionFilter(sid string) string { return actionPrefix + sid + ".>" }

// TallySubject carries the session's tallies.
func TallySubject(sid string) string { return tallyPrefix + sid }

// PresenceSubject carries gateways' presence reports for the session.
func PresenceSubject(sid string) string { return presencePrefix + sid }

// CommandSubject is where the DJ's commands for the session are requested.
func CommandSubject(sid string) string { return commandPrefix + sid }

// LastToken returns the last token of a subject (the session id of a
// tally, presence or command subject).
func LastToken(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[i+1:]
	}
	return subject
}
