// Package bus is the contract every part of Pika! speaks: subject names, the
// versioned event types, the stream and KV bucket definitions, the session
// state those events fold into, and publishing with the event id as the
// JetStream message id.
//
// Nothing outside this package formats a subject or invents an event shape.
// The gateway, the persister and the DJ side meet only on these types, so a
// DJ's laptop and a cloud gateway agree on every byte.
//
// Subjects (DJ side, "leaf" domain):
//
//	pika.s.<session>.<event type>     e.g. pika.s.01JD….track.played
//
// The DJ's stream (StreamName) captures pika.s.>. The cloud (issue 7) sources
// that stream and transforms pika.s.> into pika.dj.<dj>.s.>, so cloud
// subjects carry the DJ id and never overlap the leaf's.
package bus
