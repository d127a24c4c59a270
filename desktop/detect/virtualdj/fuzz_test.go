package virtualdj

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseReply: any bytes the plugin (or whatever answers on its port)
// sends become a clean string or a VDJScript error, never a panic.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"yes", `"Slow Dance"`, "'Example Band'", "error:-2147467259", "128.00", "4:03", "\uFEFF\"x", "\"", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseReply(b)
		if err != nil && s != "" {
			t.Fatalf("error %v with value %q", err, s)
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\n\r") {
			t.Fatalf("unclean value %q", s)
		}
		_ = parseBool(s)
		if d := parseDuration(s); d < 0 || d > 24*3600 {
			t.Fatalf("duration %v from %q", d, s)
		}
		if bpm := parseBPM(s); bpm != 0 && (bpm < 20 || bpm > 400) {
			t.Fatalf("bpm %v from %q", bpm, s)
		}
	})
}

// FuzzParseDatabase: a damaged database.xml gives songs or an error, and
// every song's values are ones the bus accepts.
func FuzzParseDatabase(f *testing.F) {
	f.Add([]byte(databaseXML))
	f.Add([]byte(databaseXML[:len(databaseXML)/2]))
	f.Add([]byte(`<VirtualDJ_Database><Song FilePath="a"><Scan Bpm="0" Key=""/></Song>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		songs, _ := parseDatabase(bytes.NewReader(b))
		for p, s := range songs {
			if s.BPM != 0 && (s.BPM < 20 || s.BPM > 400) || len([]rune(s.Key)) > 16 || !utf8.ValidString(s.Key) {
				t.Fatalf("%q: %+v", p, s)
			}
		}
	})
}

// FuzzParseWriteHistory: any settings.xml is read without a panic.
func FuzzParseWriteHistory(f *testing.F) {
	f.Add([]byte(`<settings><writeHistory>no</writeHistory></settings>`))
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><settings><writeHistory>yes`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseWriteHistory(bytes.NewReader(b))
	})
}
