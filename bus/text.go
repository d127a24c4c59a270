package bus

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanText makes text from outside (a DJ program's tags, an error message)
// fit the contract: valid UTF-8, control characters (newlines included) as
// spaces, trimmed, at most max characters.
func CleanText(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		s = strings.TrimSpace(string([]rune(s)[:max]))
	}
	return s
}
