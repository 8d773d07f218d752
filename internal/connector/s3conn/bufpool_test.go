package s3conn

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/record"
)

// A receiver that releases batches late sees their cells intact until it
// does, while the reader reuses the buffers released before: each batch's
// cells are copied shallowly at emit (as the engine does), copied deeply
// too, and compared when released, lag batches later.
func TestReadReleasedBuffersAreReused(t *testing.T) {
	var csvIn, jsonIn strings.Builder
	csvIn.WriteString("id,name,note\n")
	for i := range 120000 {
		fmt.Fprintf(&csvIn, "%d,name%d,%s\n", i, i*7, strings.Repeat("x", i%40))
		fmt.Fprintf(&jsonIn, `{"id":%d,"name":"name%d","note":"%s"}`+"\n", i, i*7, strings.Repeat("y", i%40))
	}
	for _, format := range []string{"CSV", "JSON"} {
		in := csvIn.String()
		if format == "JSON" {
			in = jsonIn.String()
		}
		for _, lag := range []int{0, 1, 7, 40} {
			type held struct {
				cells   []record.Value
				text    []string
				release func()
			}
			var queue []held
			// Releases come from another goroutine, as from the engine's writer.
			releases := make(chan func(), 64)
			released := make(chan struct{})
			go func() {
				for r := range releases {
					r()
				}
				close(released)
			}()
			check := func(h held) {
				for i, v := range h.cells {
					if v.Text() != h.text[i] {
						t.Fatalf("%s lag %d: cell %d reads %q at release, %q at emit", format, lag, i, v.Text(), h.text[i])
					}
				}
				releases <- h.release
			}
			rows := 0
			emit := func(b *record.Batch) error {
				if b.Release == nil {
					t.Fatalf("%s: batch without Release", format)
				}
				h := held{cells: slices.Clone(b.Cells), release: b.Release}
				for _, v := range b.Cells {
					h.text = append(h.text, strings.Clone(v.Text()))
				}
				rows += b.Len()
				queue = append(queue, h)
				if len(queue) > lag {
					check(queue[0])
					queue = queue[1:]
				}
				return nil
			}
			src := &objectReader{r: strings.NewReader(in), key: "k"}
			var err error
			if format == "CSV" {
				err = readCSV(context.Background(), src, nil, emit)
			} else {
				err = readJSONLines(context.Background(), src, nil, emit)
			}
			if err != nil || rows != 120000 {
				t.Fatalf("%s lag %d: %d rows, %v", format, lag, rows, err)
			}
			for _, h := range queue {
				check(h)
			}
			close(releases)
			<-released
		}
	}
}

// The chunker fills a released buffer again, and never one still held.
func TestChunkerReusesOnlyReleasedBuffers(t *testing.T) {
	in := strings.Repeat("0123456789abcdef", 6*readBufSize/16)
	c := &chunker{r: strings.NewReader(in), pool: &bufPool{}}
	ctx := context.Background()
	data := func() *byte { return &(c.bufs[len(c.bufs)-1].b[0]) }
	if _, err := c.refill(ctx); err != nil {
		t.Fatal(err)
	}
	first := data()
	held := c.hold() // a batch in the first buffer, not released
	c.pos = len(c.s)
	if _, err := c.refill(ctx); err != nil {
		t.Fatal(err)
	}
	second := data()
	c.hold()() // a batch in the second, released at once
	c.pos = len(c.s)
	if _, err := c.refill(ctx); err != nil {
		t.Fatal(err)
	}
	if third := data(); third == first || third == second {
		t.Fatal("a buffer still held by the chunker or a batch was filled again")
	}
	c.hold()()
	c.pos = len(c.s)
	if _, err := c.refill(ctx); err != nil {
		t.Fatal(err)
	}
	if data() != second {
		t.Fatal("the released second buffer was not filled again")
	}
	held()
	held() // a second call does nothing
	if n := len(c.pool.free); n != 1 {
		t.Fatalf("%d buffers free, want the first alone", n)
	}
}
