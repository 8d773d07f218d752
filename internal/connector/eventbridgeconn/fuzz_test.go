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
		frames, err := readFrames(b)
		if err != nil {
			return
		}
		// Varints may come overlong; what they say must read back the same.
		var again []byte
		for _, fr := range frames {
			again = appendFrame(again, fr.Split, fr.Line, fr.Type, fr.Detail)
		}
		back, err := readFrames(again)
		if err != nil || len(back) != len(frames) {
			t.Fatalf("frames of %x re-encode as %x, which reads %d frames (%v)", b, again, len(back), err)
		}
		for i := range back {
			if back[i].Split != frames[i].Split || back[i].Line != frames[i].Line || back[i].Type != frames[i].Type || !bytes.Equal(back[i].Detail, frames[i].Detail) {
				t.Fatalf("frame %d of %x reads back as %+v, want %+v", i, b, back[i], frames[i])
			}
		}
	})
}

// readFrames reads every frame of b.
func readFrames(b []byte) ([]frame, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	var out []frame
	for {
		var fr frame
		err := readFrame(r, &fr)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fr)
	}
}

// A length past what the file holds fails without allocating it first.
func TestReadFrameHugeLength(t *testing.T) {
	b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f} // 2^63-1
	var fr frame
	if err := readFrame(bufio.NewReader(bytes.NewReader(b)), &fr); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want an error other than EOF", err)
	}
}
