package eventbridgeconn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// readFrame reads back what appendFrame wrote, and any other bytes (a
// spool file cut short or damaged) end in an error, never a panic or an
// allocation the file's bytes do not back.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte(appendFrame(appendFrame(nil, "in.csv", 2, "", []byte(`{"id":"1"}`)), "in.csv", 3, "Order Created", []byte(`{"id":"2","n":{"x":[1]}}`))))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x05, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		var again []byte
		for {
			var fr frame
			err := readFrame(r, &fr)
			if errors.Is(err, io.EOF) {
				if !bytes.Equal(again, b) {
					t.Fatalf("frames of %x re-encode as %x", b, again)
				}
				return
			}
			if err != nil {
				return
			}
			again = appendFrame(again, fr.Split, fr.Line, fr.Type, fr.Detail)
		}
	})
}

// A length past what the file holds fails without allocating it first.
func TestReadFrameHugeLength(t *testing.T) {
	b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f} // 2^63-1
	var fr frame
	if err := readFrame(bufio.NewReader(bytes.NewReader(b)), &fr); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want an error other than EOF", err)
	}
}
