// Package detect owns reading DJ history files: it parses plain M3U/M3U8
// history files and VirtualDJ's #EXTVDJ dialect, and watches a history file
// or a folder of them, turning each appended entry into exactly one Entry
// handed to the caller, even across restarts, rewrites and midnight file
// switches.
//
// Delivery is at least once: an entry is handed over again only when the
// previous hand-over failed or its acknowledgement was not yet saved, and
// Entry.ID is stable so the receiver can drop the repeat.
//
// Other sources (Serato, Traktor, …) are meant to sit behind the Source
// interface defined here.
package detect
