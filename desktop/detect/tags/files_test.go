package tags

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// Builders of small real audio files: the tag layouts are the formats'
// own, the audio is a few fake frames with a valid header and invented
// payload.

type frame struct{ id, data string }

// textFrame is an ID3v2 text frame in UTF-8 (v2.4) or Latin-1 (v2.3).
func textFrame(id, value string, version byte) frame {
	enc := "\x00"
	if version == 4 {
		enc = "\x03"
	}
	return frame{id, enc + value}
}

// txxx is a user text frame: encoding, description, NUL, value.
func txxx(desc, value string) frame { return frame{"TXXX", "\x00" + desc + "\x00" + value} }

// ufid is a unique file identifier: owner, NUL, identifier bytes.
func ufid(owner, id string) frame { return frame{"UFID", owner + "\x00" + id} }

func synchsafe(n int) []byte {
	return []byte{byte(n >> 21 & 0x7F), byte(n >> 14 & 0x7F), byte(n >> 7 & 0x7F), byte(n & 0x7F)}
}

// id3v2 builds an ID3v2.3 or v2.4 tag with padding bytes of zeros after the
// frames, as taggers leave room to grow.
func id3v2(version byte, padding int, frames ...frame) []byte {
	var body bytes.Buffer
	for _, f := range frames {
		body.WriteString(f.id)
		if version == 4 {
			body.Write(synchsafe(len(f.data)))
		} else {
			_ = binary.Write(&body, binary.BigEndian, uint32(len(f.data)))
		}
		body.Write([]byte{0, 0})
		body.WriteString(f.data)
	}
	body.Write(make([]byte, padding))
	out := []byte{'I', 'D', '3', version, 0, 0}
	out = append(out, synchsafe(body.Len())...)
	return append(out, body.Bytes()...)
}

// mpegFrames is n MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz: 417 bytes
// each) whose payload derives from seed, so two seeds are two recordings.
func mpegFrames(n int, seed byte) []byte {
	var b bytes.Buffer
	for i := range n {
		fr := make([]byte, 417)
		copy(fr, []byte{0xFF, 0xFB, 0x90, 0x64})
		for j := 4; j < len(fr); j++ {
			fr[j] = byte(j*7+i*13) ^ seed
		}
		b.Write(fr)
	}
	return b.Bytes()
}

// id3v1 is the 128-byte trailer some files still carry.
func id3v1(title string) []byte {
	b := make([]byte, 128)
	copy(b, "TAG")
	copy(b[3:33], title)
	b[127] = 255
	return b
}

// apev2 is an APEv2 tag with one item and header and footer, as foobar2000
// writes before an ID3v1 trailer.
func apev2(key, value string) []byte {
	var item bytes.Buffer
	_ = binary.Write(&item, binary.LittleEndian, uint32(len(value)))
	_ = binary.Write(&item, binary.LittleEndian, uint32(0))
	item.WriteString(key + "\x00" + value)
	block := func(flags uint32) []byte {
		var b bytes.Buffer
		b.WriteString("APETAGEX")
		_ = binary.Write(&b, binary.LittleEndian, uint32(2000))
		_ = binary.Write(&b, binary.LittleEndian, uint32(item.Len()+32))
		_ = binary.Write(&b, binary.LittleEndian, uint32(1))
		_ = binary.Write(&b, binary.LittleEndian, flags)
		b.Write(make([]byte, 8))
		return b.Bytes()
	}
	hasHeader := uint32(1 << 31)
	out := block(hasHeader | 1<<29)
	out = append(out, item.Bytes()...)
	return append(out, block(hasHeader)...)
}

// flacFile is "fLaC", a STREAMINFO block, optional padding, a
// VORBIS_COMMENT block (last) and fake frames from seed.
func flacFile(comments []string, padding int, seed byte) []byte {
	var b bytes.Buffer
	b.WriteString("fLaC")
	block := func(typ byte, last bool, data []byte) {
		if last {
			typ |= 0x80
		}
		b.WriteByte(typ)
		b.Write([]byte{byte(len(data) >> 16), byte(len(data) >> 8), byte(len(data))})
		b.Write(data)
	}
	info := make([]byte, 34)
	binary.BigEndian.PutUint16(info[0:], 4096)
	binary.BigEndian.PutUint16(info[2:], 4096)
	// 44.1 kHz, 2 channels, 16 bits: 20+3+5 bits packed at byte 10.
	info[10], info[11], info[12] = 0x0A, 0xC4, 0x42
	block(0, false, info)
	if padding > 0 {
		block(1, false, make([]byte, padding))
	}
	var vc bytes.Buffer
	vendor := "reference libFLAC 1.4.3 20230623"
	_ = binary.Write(&vc, binary.LittleEndian, uint32(len(vendor)))
	vc.WriteString(vendor)
	_ = binary.Write(&vc, binary.LittleEndian, uint32(len(comments)))
	for _, c := range comments {
		_ = binary.Write(&vc, binary.LittleEndian, uint32(len(c)))
		vc.WriteString(c)
	}
	block(4, true, vc.Bytes())
	for i := range 8 {
		fr := make([]byte, 300)
		copy(fr, []byte{0xFF, 0xF8, 0x69, 0x08})
		for j := 4; j < len(fr); j++ {
			fr[j] = byte(j*5+i*11) ^ seed
		}
		b.Write(fr)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, dir, name string, parts ...[]byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, bytes.Join(parts, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
