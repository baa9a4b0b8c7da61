package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/vocals-bridge/vocals-bridge/bridge/event"
	"github.com/vocals-bridge/vocals-bridge/bridge/internal/outbound"
)

// On disk a record is a 9-byte header followed by its payload:
//
//	magic   1 byte  recordMagic
//	length  4 bytes big-endian payload length
//	crc     4 bytes big-endian CRC-32C of the payload
//	payload: spooled-at unix nanos (8), then id, subject, stage, task id
//	         (2-byte length + bytes each) and the body (4-byte length + bytes)
//
// The CRC covers the payload, the length is bounded by maxRecord, so a torn
// or overwritten record is detected rather than misread.
const (
	recordMagic = 0xB5
	headerSize  = 9
	maxRecord   = 80 << 20
	maxShortFld = 1<<16 - 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn and errCorrupt describe a record that cannot be read.
var (
	errTorn    = errors.New("record is incomplete (torn write)")
	errCorrupt = errors.New("record checksum or framing is wrong")
)

func encodeRecord(m outbound.Message, at time.Time) ([]byte, error) {
	for _, f := range []string{m.ID, m.Subject, string(m.Stage), m.TaskID} {
		if len(f) > maxShortFld {
			return nil, fmt.Errorf("spool: field of %d bytes is too long", len(f))
		}
	}
	n := 8 + 2*4 + len(m.ID) + len(m.Subject) + len(m.Stage) + len(m.TaskID) + 4 + len(m.Body)
	if n > maxRecord {
		return nil, fmt.Errorf("spool: record of %d bytes exceeds %d", n, maxRecord)
	}
	buf := make([]byte, headerSize, headerSize+n)
	buf = binary.BigEndian.AppendUint64(buf, uint64(at.UnixNano()))
	for _, f := range []string{m.ID, m.Subject, string(m.Stage), m.TaskID} {
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(f)))
		buf = append(buf, f...)
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(m.Body)))
	buf = append(buf, m.Body...)
	buf[0] = recordMagic
	binary.BigEndian.PutUint32(buf[1:5], uint32(n))
	binary.BigEndian.PutUint32(buf[5:9], crc32.Checksum(buf[headerSize:], crcTable))
	return buf, nil
}

// parseHeader returns the payload length of the record whose header is h,
// given how many bytes remain in the file from its start.
func parseHeader(h []byte, remaining int64) (int, error) {
	if int64(len(h)) < headerSize || remaining < headerSize {
		return 0, errTorn
	}
	if h[0] != recordMagic {
		return 0, errCorrupt
	}
	n := int(binary.BigEndian.Uint32(h[1:5]))
	if n > maxRecord || n < 8+2*4+4 {
		return 0, errCorrupt
	}
	if int64(headerSize+n) > remaining {
		return 0, errTorn
	}
	return n, nil
}

// decodeRecord checks rec (header and payload) and decodes it.
func decodeRecord(rec []byte) (outbound.Message, time.Time, error) {
	var m outbound.Message
	n, err := parseHeader(rec, int64(len(rec)))
	if err != nil {
		return m, time.Time{}, err
	}
	p := rec[headerSize : headerSize+n]
	if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(rec[5:9]) {
		return m, time.Time{}, errCorrupt
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(p)))
	p = p[8:]
	fields := make([]string, 4)
	for i := range fields {
		if len(p) < 2 {
			return m, at, errCorrupt
		}
		l := int(binary.BigEndian.Uint16(p))
		if len(p) < 2+l {
			return m, at, errCorrupt
		}
		fields[i], p = string(p[2:2+l]), p[2+l:]
	}
	if len(p) < 4 || uint32(len(p)-4) != binary.BigEndian.Uint32(p) {
		return m, at, errCorrupt
	}
	m = outbound.Message{
		ID: fields[0], Subject: fields[1], Stage: event.Stage(fields[2]), TaskID: fields[3],
		Body: append([]byte(nil), p[4:]...),
	}
	return m, at, nil
}
