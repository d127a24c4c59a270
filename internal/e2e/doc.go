// Package e2e holds tests that need every part at once: the DJ side's
// engine and crowd owner, several gateways, and real WebSocket clients, all
// on one embedded NATS server. It has no code of its own.
package e2e
