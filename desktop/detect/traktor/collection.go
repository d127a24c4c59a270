package traktor

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/pika-dj/pika/bus"
)

// The broadcast carries only artist and title; Traktor's collection.nml
// knows each track's BPM, key, length and file. It is XML:
//
//	<NML VERSION="19"><COLLECTION ENTRIES="2">
//	  <ENTRY ARTIST="…" TITLE="…">
//	    <LOCATION DIR="/:Users/:me/:Music/:" FILE="a.mp3" VOLUME="Macintosh HD"/>
//	    <ALBUM TITLE="…"/>
//	    <INFO KEY="8m" PLAYTIME="245" PLAYTIME_FLOAT="244.871"/>
//	    <TEMPO BPM="101.999985"/>
//	  </ENTRY>…
//	</COLLECTION><PLAYLISTS>…</PLAYLISTS></NML>
//
// A big collection is tens of megabytes, so it is read token by token and
// only what a lookup needs is kept.

// maxCollectionEntries bounds the index, whatever the file says.
const maxCollectionEntries = 2_000_000

// collectionTrack is what the collection knows about one track.
type collectionTrack struct {
	Album             string
	BPM               float64
	Key               string  // Open Key text as Traktor writes it ("8m")
	Duration          float64 // seconds
	Volume, Dir, File string  // LOCATION, as written
}

// collection is an index of collection.nml by normalized artist and title.
type collection struct {
	tracks map[string]collectionTrack
}

func collectionKey(artist, title string) string {
	return bus.Normalize(artist) + "\x00" + bus.Normalize(title)
}

// lookup finds the track Traktor broadcast as artist and title.
func (c *collection) lookup(artist, title string) (collectionTrack, bool) {
	if c == nil {
		return collectionTrack{}, false
	}
	t, ok := c.tracks[collectionKey(artist, title)]
	return t, ok
}

func (c *collection) add(artist, title string, t collectionTrack) {
	if title == "" || len(c.tracks) >= maxCollectionEntries {
		return
	}
	k := collectionKey(artist, title)
	if _, dup := c.tracks[k]; !dup { // the same song twice: the first one listed
		c.tracks[k] = t
	}
	// A file tagged "Artist - Title" with no artist is broadcast split, so
	// it is found under the split name too.
	if artist == "" {
		if a, b, ok := strings.Cut(title, " - "); ok {
			c.add(strings.TrimSpace(a), strings.TrimSpace(b), t)
		}
	}
}

// readCollectionFile reads the collection.nml at path.
func readCollectionFile(path string) (*collection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open Traktor's collection: %w", err)
	}
	defer f.Close()
	return readCollection(f)
}

// errNoCollection says an NML file has no COLLECTION element.
var errNoCollection = errors.New("unsupported Traktor collection: no COLLECTION element; Pika! cannot read this version yet")

// readCollection reads the COLLECTION of an NML document. The playlists
// after it are not read.
func readCollection(r io.Reader) (*collection, error) {
	c := &collection{tracks: map[string]collectionTrack{}}
	d := xml.NewDecoder(r)
	var (
		inCollection bool
		inEntry      bool
		artist       string
		title        string
		cur          collectionTrack
	)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			if !inCollection {
				return nil, errNoCollection
			}
			return nil, fmt.Errorf("read Traktor's collection: %w", io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, fmt.Errorf("read Traktor's collection: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "COLLECTION":
				inCollection = true
			case "ENTRY":
				if inCollection && !inEntry {
					inEntry = true
					artist, title = attr(t, "ARTIST"), attr(t, "TITLE")
					cur = collectionTrack{}
				}
			case "LOCATION":
				if inEntry {
					cur.Volume, cur.Dir, cur.File = attr(t, "VOLUME"), attr(t, "DIR"), attr(t, "FILE")
				}
			case "ALBUM":
				if inEntry {
					cur.Album = attr(t, "TITLE")
				}
			case "INFO":
				if inEntry {
					cur.Key = attr(t, "KEY")
					cur.Duration = number(attr(t, "PLAYTIME_FLOAT"))
					if cur.Duration == 0 {
						cur.Duration = number(attr(t, "PLAYTIME"))
					}
				}
			case "TEMPO":
				if inEntry {
					cur.BPM = math.Round(number(attr(t, "BPM"))*100) / 100
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "ENTRY":
				if inEntry {
					c.add(artist, title, cur)
					inEntry = false
				}
			case "COLLECTION":
				if inCollection {
					return c, nil
				}
			}
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// number reads a non-negative finite decimal; anything else is 0.
func number(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0
	}
	return f
}

// filePath makes the file's path from a LOCATION. DIR separates folders
// with "/:" ("/:Users/:me/:Music/:"). On Windows VOLUME is the drive
// ("C:"); on macOS it is the disk's name, and a disk other than the start-up
// disk is mounted under /Volumes. exists tells which of the two a macOS
// path is; nil takes the start-up disk.
func (t collectionTrack) filePath(exists func(string) bool) string {
	if t.File == "" {
		return ""
	}
	var parts []string
	for p := range strings.SplitSeq(t.Dir, "/:") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	parts = append(parts, t.File)
	if len(t.Volume) == 2 && t.Volume[1] == ':' { // a Windows drive
		return t.Volume + `\` + strings.Join(parts, `\`)
	}
	p := "/" + strings.Join(parts, "/")
	if t.Volume != "" && exists != nil && !exists(p) {
		if onVolume := "/Volumes/" + t.Volume + p; exists(onVolume) {
			return onVolume
		}
	}
	return p
}
