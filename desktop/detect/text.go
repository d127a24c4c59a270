package detect

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// DecodeText turns a small text file a DJ program wrote into a string, the
// way such files come in practice: UTF-8 with or without a BOM, UTF-16 with
// a BOM, UTF-16 without one (guessed: text never has a NUL as its first or
// second byte), else the Windows ANSI code page (CP-1252). It never fails.
func DecodeText(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return UTF16(b[2:], false)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return UTF16(b[2:], true)
	case len(b) >= 2 && b[0] != 0 && b[1] == 0:
		return UTF16(b, false)
	case len(b) >= 2 && b[0] == 0 && b[1] != 0:
		return UTF16(b, true)
	}
	return utf8OrWindows1252(b)
}

// UTF16 decodes UTF-16 text; an odd last byte (half a character, a file
// caught mid-write) is dropped.
func UTF16(b []byte, bigEndian bool) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	return string(utf16.Decode(u))
}

// utf8OrWindows1252 reads b as UTF-8, or, when it is not, as the ANSI code
// page older Windows tools write (CP-1252 in the West): every byte maps to a
// rune, so this never fails.
func utf8OrWindows1252(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(charmap.Windows1252.DecodeByte(c))
	}
	return sb.String()
}
