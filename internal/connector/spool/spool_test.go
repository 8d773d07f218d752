package spool

import (
	"io"
	"os"
	"testing"
)

func TestWriteReadRemove(t *testing.T) {
	s, err := New("acme")
	if err != nil {
		t.Fatal(err)
	}
	name := s.f.Name()
	if _, err := s.W.WriteString("one\ntwo\n"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Reader()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || string(b) != "one\ntwo\n" {
		t.Fatalf("read back %q, %v", b, err)
	}
	s.Remove()
	s.Remove()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("the spool %s is still there: %v", name, err)
	}
}
