package virtualdj

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/pika-dj/pika/bus"
)

// maxSettings bounds how much of settings.xml is read: it is tens of
// kilobytes, so more is not a settings file.
const maxSettings = 8 << 20

// maxDatabase bounds how much of database.xml is read. A big library's is
// tens of megabytes; the bound only keeps a damaged file from costing
// without end.
const maxDatabase = 1 << 30

// errNoSetting says settings.xml does not mention writeHistory.
var errNoSetting = errors.New("writeHistory is not in VirtualDJ's settings")

// newDecoder reads VirtualDJ's XML leniently: a damaged file is read as far
// as it goes, and a declared charset other than UTF-8 is read as UTF-8 (its
// names are ASCII either way).
func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.Strict = false
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	return d
}

// readWriteHistory reports whether settings.xml at p lets VirtualDJ write
// its history: <writeHistory>yes</writeHistory> (or an attribute of that
// name). errNoSetting when the file does not say, since the default is on.
func readWriteHistory(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, fmt.Errorf("read VirtualDJ's settings: %w", err)
	}
	defer f.Close()
	return parseWriteHistory(io.LimitReader(f, maxSettings))
}

func parseWriteHistory(r io.Reader) (bool, error) {
	d := newDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return false, errNoSetting
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if strings.EqualFold(se.Name.Local, "writeHistory") {
			var v string
			if err := d.DecodeElement(&v, &se); err != nil {
				return false, errNoSetting
			}
			return isOn(v), nil
		}
		for _, a := range se.Attr {
			if strings.EqualFold(a.Name.Local, "writeHistory") {
				return isOn(a.Value), nil
			}
		}
	}
}

// isOn reads VirtualDJ's spellings of a switch: yes/no, on/off, true/false,
// 1/0. Anything else counts as on, so Pika! never claims a setting is off
// when it cannot tell.
func isOn(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "no", "off", "false", "0":
		return false
	}
	return true
}

// songInfo is what database.xml knows about one file.
type songInfo struct {
	BPM float64
	Key string
}

// parseDatabase reads database.xml's songs into BPM and key by file path
// (see pathKey). Per song it takes the analysed <Scan Bpm= Key=> first and
// the file's <Tags Bpm= Key=> second. A damaged file gives the songs before
// the damage and an error.
func parseDatabase(r io.Reader) (map[string]songInfo, error) {
	d := newDecoder(r)
	songs := map[string]songInfo{}
	var path string
	var scan, tags songInfo
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return songs, nil
		}
		if err != nil {
			return songs, fmt.Errorf("read VirtualDJ's database.xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "Song":
				path, scan, tags = attr(t, "FilePath"), songInfo{}, songInfo{}
			case "Scan":
				scan = songInfo{BPM: parseBPM(attr(t, "Bpm")), Key: cleanKey(attr(t, "Key"))}
			case "Tags":
				tags = songInfo{BPM: parseBPM(attr(t, "Bpm")), Key: cleanKey(attr(t, "Key"))}
			}
		case xml.EndElement:
			if t.Name.Local != "Song" || path == "" {
				continue
			}
			s := scan
			if s.BPM == 0 {
				s.BPM = tags.BPM
			}
			if s.Key == "" {
				s.Key = tags.Key
			}
			if s != (songInfo{}) {
				songs[pathKey(path)] = s
			}
			path = ""
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if strings.EqualFold(a.Name.Local, name) {
			return a.Value
		}
	}
	return ""
}

// parseBPM reads a VirtualDJ BPM: database.xml keeps seconds per beat
// (0.46875 is 128 BPM), so a value below 10 is turned over; the rest is
// BPM already. Values the bus would refuse become 0.
func parseBPM(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f != f {
		return 0
	}
	if f > 0 && f < 10 {
		f = 60 / f
	}
	if f < bus.MinBPM || f > bus.MaxBPM {
		return 0
	}
	return f
}

func cleanKey(s string) string {
	s = strings.TrimSpace(s)
	if len([]rune(s)) > bus.MaxKeyLen {
		return ""
	}
	return strings.ToValidUTF8(s, "")
}

// pathKey folds a path for lookups: VirtualDJ runs on Windows and macOS,
// whose file names ignore case, and writes either slash.
func pathKey(p string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(p), `\`, "/"))
}
