package dml

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// binarySignature starts every binary COPY stream.
var binarySignature = []byte("PGCOPY\n\377\r\n\x00")

// tupleSplitter cuts one COPY TO stream into several COPY FROM streams of
// at most n tuples each, without decoding any value: text tuples end at a
// newline (newlines inside values are escaped), binary tuples are a field
// count and length-prefixed fields. Each piece of a binary stream gets the
// stream's header and a trailer of its own.
type tupleSplitter struct {
	r      *bufio.Reader
	binary bool
	header []byte
}

func newTupleSplitter(r io.Reader, binary bool) *tupleSplitter {
	return &tupleSplitter{r: bufio.NewReaderSize(r, 1<<20), binary: binary}
}

// readHeader reads a binary stream's header, keeping it for the pieces.
func (s *tupleSplitter) readHeader() error {
	if !s.binary || s.header != nil {
		return nil
	}
	h := make([]byte, len(binarySignature)+8)
	if _, err := io.ReadFull(s.r, h); err != nil {
		return fmt.Errorf("read binary COPY header: %w", err)
	}
	if !bytes.Equal(h[:len(binarySignature)], binarySignature) {
		return errors.New("read binary COPY header: bad signature")
	}
	ext := make([]byte, binary.BigEndian.Uint32(h[len(binarySignature)+4:]))
	if _, err := io.ReadFull(s.r, ext); err != nil {
		return fmt.Errorf("read binary COPY header: %w", err)
	}
	s.header = append(h, ext...)
	return nil
}

// more reports whether another tuple follows.
func (s *tupleSplitter) more() (bool, error) {
	if err := s.readHeader(); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	if !s.binary {
		_, err := s.r.Peek(1)
		if err == io.EOF {
			return false, nil
		}
		return err == nil, err
	}
	b, err := s.r.Peek(2)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return int16(binary.BigEndian.Uint16(b)) != -1, nil
}

// copyTuples writes up to n tuples (all when n <= 0) to w as a complete
// COPY stream and returns how many it wrote.
func (s *tupleSplitter) copyTuples(w io.Writer, n int) (int, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := s.readHeader(); err != nil {
		return 0, err
	}
	if s.binary {
		if _, err := bw.Write(s.header); err != nil {
			return 0, err
		}
	}
	count := 0
	for n <= 0 || count < n {
		more, err := s.more()
		if err != nil {
			return count, err
		}
		if !more {
			break
		}
		if s.binary {
			err = s.copyBinaryTuple(bw)
		} else {
			err = s.copyTextTuple(bw)
		}
		if err != nil {
			return count, err
		}
		count++
	}
	if s.binary {
		if _, err := bw.Write([]byte{0xff, 0xff}); err != nil {
			return count, err
		}
	}
	return count, bw.Flush()
}

func (s *tupleSplitter) copyTextTuple(w io.Writer) error {
	for {
		line, err := s.r.ReadSlice('\n')
		if _, werr := w.Write(line); werr != nil {
			return werr
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return errors.New("COPY text stream ends inside a tuple")
		default:
			return err
		}
	}
}

func (s *tupleSplitter) copyBinaryTuple(w io.Writer) error {
	var hdr [4]byte
	if _, err := io.ReadFull(s.r, hdr[:2]); err != nil {
		return fmt.Errorf("read binary COPY tuple: %w", err)
	}
	if _, err := w.Write(hdr[:2]); err != nil {
		return err
	}
	fields := int(int16(binary.BigEndian.Uint16(hdr[:2])))
	for i := 0; i < fields; i++ {
		if _, err := io.ReadFull(s.r, hdr[:4]); err != nil {
			return fmt.Errorf("read binary COPY field: %w", err)
		}
		if _, err := w.Write(hdr[:4]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(hdr[:4]))
		if size <= 0 {
			continue // -1 is NULL
		}
		if _, err := io.CopyN(w, s.r, int64(size)); err != nil {
			return fmt.Errorf("read binary COPY field: %w", err)
		}
	}
	return nil
}
