package tags

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
)

// hashWindow is how much audio from each end of a file goes into the hash.
// The length of the audio goes in too, so two recordings would need the
// same length and the same first and last seconds to collide, while a
// 100 MB file costs two small reads, not a full one.
const hashWindow = 1 << 20

// audioHash hashes the audio of an MP3 or FLAC file, leaving out every tag:
// for MP3 the bytes after the ID3v2 tag and before any APEv2 and ID3v1
// trailers, for FLAC the frames after the metadata blocks. Other formats
// get errNoAudio.
func audioHash(r io.ReaderAt, size int64) (string, error) {
	head := make([]byte, 10)
	if n, _ := r.ReadAt(head, 0); n < len(head) {
		return "", errNoAudio
	}
	var start, end int64
	var err error
	switch {
	case string(head[:4]) == "fLaC":
		start, err = flacAudioStart(r, size)
		end = size
	case string(head[:3]) == "ID3" || isMPEGSync(head):
		start, end, err = mp3Audio(r, size, head)
	default:
		return "", errNoAudio
	}
	if err != nil {
		return "", err
	}
	if end <= start {
		return "", errNoAudio
	}
	return hashRange(r, start, end)
}

func isMPEGSync(b []byte) bool { return len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0 }

// mp3Audio finds where an MP3's audio lies between its leading ID3v2 tag
// and its trailing APEv2 and ID3v1 tags.
func mp3Audio(r io.ReaderAt, size int64, head []byte) (start, end int64, err error) {
	if string(head[:3]) == "ID3" {
		// Size is four 7-bit bytes; a footer (flag 0x10 in v2.4) adds 10.
		for _, b := range head[6:10] {
			if b&0x80 != 0 {
				return 0, 0, errNoAudio
			}
		}
		tagSize := int64(head[6])<<21 | int64(head[7])<<14 | int64(head[8])<<7 | int64(head[9])
		start = 10 + tagSize
		if head[5]&0x10 != 0 {
			start += 10
		}
	}
	end = size
	if end-128 >= start {
		tail := make([]byte, 3)
		if _, err := r.ReadAt(tail, end-128); err == nil && string(tail) == "TAG" {
			end -= 128
		}
	}
	if end-32 >= start {
		footer := make([]byte, 32)
		if _, err := r.ReadAt(footer, end-32); err == nil && bytes.HasPrefix(footer, []byte("APETAGEX")) {
			// The footer's size counts the items and the footer; a header,
			// when flagged, adds 32 more.
			n := int64(binary.LittleEndian.Uint32(footer[12:16]))
			flags := binary.LittleEndian.Uint32(footer[20:24])
			if flags&(1<<31) != 0 {
				n += 32
			}
			if n >= 32 && end-n >= start {
				end -= n
			}
		}
	}
	return start, end, nil
}

// flacAudioStart skips the metadata blocks after "fLaC": each has a 4-byte
// header whose top bit marks the last, then a 24-bit length.
func flacAudioStart(r io.ReaderAt, size int64) (int64, error) {
	off := int64(4)
	hdr := make([]byte, 4)
	for range 1 << 16 { // a real file has a handful; a damaged one must not loop for long
		if off+4 > size {
			return 0, errNoAudio
		}
		if _, err := r.ReadAt(hdr, off); err != nil {
			return 0, errNoAudio
		}
		n := int64(hdr[1])<<16 | int64(hdr[2])<<8 | int64(hdr[3])
		off += 4 + n
		if hdr[0]&0x80 != 0 {
			return off, nil
		}
	}
	return 0, errNoAudio
}

// hashRange is the short hex SHA-256 of the audio's length and its first
// and last hashWindow bytes (all of it when shorter).
func hashRange(r io.ReaderAt, start, end int64) (string, error) {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(end-start))
	h.Write(n[:])
	add := func(from, to int64) error {
		_, err := io.Copy(h, io.NewSectionReader(r, from, to-from))
		return err
	}
	if end-start <= 2*hashWindow {
		if err := add(start, end); err != nil {
			return "", err
		}
	} else {
		if err := add(start, start+hashWindow); err != nil {
			return "", err
		}
		if err := add(end-hashWindow, end); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
