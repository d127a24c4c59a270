// Package detect owns how Pika! learns what the DJ plays: the Source
// interface every DJ program's detector implements, the one
// audible-not-cued Policy they all go through (Decider), the Polled source
// that reads a program's files over and over, the rules for reading a
// program's live SQLite database (ReadSQLite), and Product, which names a
// program, finds it on a machine and opens its source.
//
// The history-file Watcher here reads plain M3U/M3U8 history files and
// VirtualDJ's #EXTVDJ dialect, turning each appended entry into exactly one
// Entry even across restarts, rewrites and midnight file switches. Each
// other program has its own package below this one, named for the product.
//
// Delivery is at least once: an entry is handed over again only when the
// previous hand-over failed or its acknowledgement was not yet saved, and
// Entry.ID is stable so the receiver can drop the repeat.
package detect
