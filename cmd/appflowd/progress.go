package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/engine"
)

// progressBar draws one self-overwriting status line on a terminal.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
}

func newProgressBar(w io.Writer, start time.Time) *progressBar {
	return &progressBar{w: w, start: start}
}

func (b *progressBar) update(p engine.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if now.Sub(b.last) < 200*time.Millisecond {
		return
	}
	b.last = now
	secs := now.Sub(b.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.RecordsRead) / secs
	}
	fmt.Fprintf(b.w, "\r%12d records read  %10s  %9.0f rec/s  %d/%d objects  %5.1fs ",
		p.RecordsRead, humanBytes(p.BytesProcessed), rate, p.SplitsDone, p.SplitsTotal, secs)
}

func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprint(b.w, "\r\033[K")
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newExecutionID returns a random UUID, the form AppFlow's execution ids take.
func newExecutionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
