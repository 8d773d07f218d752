// Package spool is the temporary file a destination keeps records in
// from Write until Commit sends them, so that a large run does not sit in
// memory.
package spool

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// File is one writer's spool: written through W, read once by Reader.
type File struct {
	W *bufio.Writer

	vendor string
	f      *os.File
}

// New creates a spool for vendor's writer (the name says whose it is in
// the temporary folder and in errors).
func New(vendor string) (*File, error) {
	f, err := os.CreateTemp("", "appflowd-"+vendor+"-*.spool")
	if err != nil {
		return nil, fmt.Errorf("%s: buffer file: %w", vendor, err)
	}
	return &File{W: bufio.NewWriterSize(f, 1<<16), vendor: vendor, f: f}, nil
}

// Reader flushes what was written and reads it from the start.
func (s *File) Reader() (*bufio.Reader, error) {
	if err := s.W.Flush(); err != nil {
		return nil, fmt.Errorf("%s: buffer file: %w", s.vendor, err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: buffer file: %w", s.vendor, err)
	}
	return bufio.NewReaderSize(s.f, 1<<16), nil
}

// Remove closes and deletes the file; later calls do nothing.
func (s *File) Remove() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
}
