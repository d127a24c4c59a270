// Package web holds the pages dancers open on their phones: the lobby of live
// sessions and the dancer page a DJ's QR code points at. They are plain
// HTML, CSS and ES modules with no build step, embedded into the Go binaries.
//
// A server maps them like this:
//
//	GET /            -> index.html    (the lobby)
//	GET /s/{id}      -> session.html  (the dancer page, the QR target)
//	GET /assets/*    -> assets/*      (JS, CSS, icon, manifest)
//
// Pages refer to their assets by absolute /assets/... paths.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Assets returns the files served to browsers, rooted at the static folder:
// "index.html", "session.html" and "assets/...".
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "static" is valid.
		panic(err)
	}
	return sub
}
