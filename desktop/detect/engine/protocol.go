package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"

	"github.com/pika-dj/pika/desktop/detect"
)

// StagelinQ's discovery and main-connection messages, read and written here
// rather than by go-stagelinq: its discovery hands out devices without their
// service port or token, sizes buffers from length fields it has not
// checked, and its dials take no context. The StateMap connection itself is
// go-stagelinq's.

const (
	discoveryPort = 51337
	actionHowdy   = "DISCOVERER_HOWDY_"
	actionExit    = "DISCOVERER_EXIT_"

	// maxNetString bounds one string in a discovery or main-connection
	// message: device names, software names and service names are a few
	// dozen characters, so a longer one is damage or another protocol.
	maxNetString = 1024
)

var discoveryMagic = []byte("airD")

// token identifies a StagelinQ peer in every message.
type token [16]byte

// announcement is one discovery datagram: a device saying it is there (or
// leaving) and on which TCP port its main connection listens.
type announcement struct {
	Token    token
	Name     string // the unit: "prime4", "sc6000"
	Action   string // actionHowdy or actionExit
	Software string // firmware id, "JP11"
	Version  string
	Port     uint16
}

var errNotStagelinQ = errors.New("not a StagelinQ announcement")

// parseAnnouncement reads one discovery datagram. Anything else on the port
// is an error, never a panic, and never costs more memory than the datagram.
func parseAnnouncement(b []byte) (announcement, error) {
	var a announcement
	if !bytes.HasPrefix(b, discoveryMagic) {
		return a, errNotStagelinQ
	}
	r := bytes.NewReader(b[len(discoveryMagic):])
	if _, err := io.ReadFull(r, a.Token[:]); err != nil {
		return a, fmt.Errorf("%w: truncated token", errNotStagelinQ)
	}
	for _, s := range []*string{&a.Name, &a.Action, &a.Software, &a.Version} {
		v, err := readNetString(r)
		if err != nil {
			return a, fmt.Errorf("%w: %v", errNotStagelinQ, err)
		}
		*s = v
	}
	if err := binary.Read(r, binary.BigEndian, &a.Port); err != nil {
		return a, fmt.Errorf("%w: truncated port", errNotStagelinQ)
	}
	if a.Action != actionHowdy && a.Action != actionExit {
		return a, fmt.Errorf("%w: unknown action %q", errNotStagelinQ, a.Action)
	}
	return a, nil
}

// encode writes a as a discovery datagram.
func (a announcement) encode() []byte {
	var b bytes.Buffer
	b.Write(discoveryMagic)
	b.Write(a.Token[:])
	for _, s := range []string{a.Name, a.Action, a.Software, a.Version} {
		writeNetString(&b, s)
	}
	_ = binary.Write(&b, binary.BigEndian, a.Port)
	return b.Bytes()
}

// readNetString reads a StagelinQ string: a big-endian byte count, then
// UTF-16BE. The count is checked against maxNetString before anything is
// allocated.
func readNetString(r io.Reader) (string, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return "", errors.New("truncated string length")
	}
	if n > maxNetString {
		return "", fmt.Errorf("string of %d bytes is too long", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", errors.New("truncated string")
	}
	return detect.UTF16(b, true), nil
}

func writeNetString(b *bytes.Buffer, s string) {
	u := utf16.Encode([]rune(s))
	_ = binary.Write(b, binary.BigEndian, uint32(2*len(u)))
	_ = binary.Write(b, binary.BigEndian, u)
}

// Main-connection message ids: the first four bytes of each message on a
// device's main TCP port.
const (
	msgServiceAnnouncement = 0
	msgReference           = 1
	msgServicesRequest     = 2
)

// mainMessage is one message read from a device's main connection.
type mainMessage struct {
	ID      uint32
	Token   token
	Service string // msgServiceAnnouncement: "StateMap", "BeatInfo", …
	Port    uint16 // msgServiceAnnouncement: where the service listens
}

// readMainMessage reads one message from a device's main connection.
func readMainMessage(r *bufio.Reader) (mainMessage, error) {
	var m mainMessage
	if err := binary.Read(r, binary.BigEndian, &m.ID); err != nil {
		return m, err
	}
	if _, err := io.ReadFull(r, m.Token[:]); err != nil {
		return m, truncated(err)
	}
	switch m.ID {
	case msgServiceAnnouncement:
		s, err := readNetString(r)
		if err != nil {
			return m, err
		}
		m.Service = s
		if err := binary.Read(r, binary.BigEndian, &m.Port); err != nil {
			return m, truncated(err)
		}
	case msgReference:
		// The device's view of our token, then a 64-bit reference clock.
		var rest [16 + 8]byte
		if _, err := io.ReadFull(r, rest[:]); err != nil {
			return m, truncated(err)
		}
	case msgServicesRequest:
		// A device asking which services we offer: we offer none.
	default:
		return m, fmt.Errorf("unknown message %#x", m.ID)
	}
	return m, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// servicesRequest asks a device for its services.
func servicesRequest(own token) []byte {
	b := binary.BigEndian.AppendUint32(nil, msgServicesRequest)
	return append(b, own[:]...)
}

// reference is the keep-alive a client sends on the main connection, as
// SoundSwitch and go-stagelinq do (reference clock left at zero).
func reference(own, device token) []byte {
	b := binary.BigEndian.AppendUint32(nil, msgReference)
	b = append(b, own[:]...)
	b = append(b, device[:]...)
	return binary.BigEndian.AppendUint64(b, 0)
}
