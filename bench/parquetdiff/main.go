// Command parquetdiff tells whether two Parquet files hold the same schema
// and the same rows in the same order, value for value (not the same bytes:
// row groups, pages, encodings and compression may differ). It is how a
// change to the Parquet writer proves its output unchanged in content:
//
//	go run ./bench/flowbench -in data_5000000.csv -format PARQUET -keep   # with the old build, then the new
//	go run ./bench/parquetdiff OLD.parquet NEW.parquet
//
// It prints the row count and exits 0 when they match; otherwise it names
// the first difference and exits 1.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: parquetdiff A.parquet B.parquet")
		os.Exit(2)
	}
	same, msg, err := diff(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "parquetdiff:", err)
		os.Exit(2)
	}
	fmt.Println(msg)
	if !same {
		os.Exit(1)
	}
}

func open(name string) (*parquet.File, func(), error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil {
		var pf *parquet.File
		if pf, err = parquet.OpenFile(f, st.Size()); err == nil {
			return pf, func() { f.Close() }, nil
		}
	}
	f.Close()
	return nil, nil, fmt.Errorf("open %s: %w", name, err)
}

// diff compares a's rows with b's, a batch at a time.
func diff(a, b string) (bool, string, error) {
	fa, closeA, err := open(a)
	if err != nil {
		return false, "", err
	}
	defer closeA()
	fb, closeB, err := open(b)
	if err != nil {
		return false, "", err
	}
	defer closeB()
	if sa, sb := fa.Schema().String(), fb.Schema().String(); sa != sb {
		return false, fmt.Sprintf("schemas differ:\n%s\n%s", sa, sb), nil
	}
	ra, rb := parquet.NewReader(fa), parquet.NewReader(fb)
	defer ra.Close()
	defer rb.Close()
	bufA, bufB := make([]parquet.Row, 1024), make([]parquet.Row, 1024)
	var n int64
	for {
		na, errA := readFull(ra, bufA)
		nb, errB := readFull(rb, bufB)
		if errA != nil || errB != nil {
			return false, "", errors.Join(errA, errB)
		}
		for i := range min(na, nb) {
			if !bufA[i].Equal(bufB[i]) {
				return false, fmt.Sprintf("row %d differs:\n%v\n%v", n+int64(i), bufA[i], bufB[i]), nil
			}
		}
		if na != nb {
			return false, fmt.Sprintf("row counts differ: %s ends at row %d or later, %s at row %d", a, n+int64(na), b, n+int64(nb)), nil
		}
		n += int64(na)
		if na < len(bufA) {
			return true, fmt.Sprintf("same schema and %d rows (%d vs %d row groups)", n, len(fa.RowGroups()), len(fb.RowGroups())), nil
		}
	}
}

// readFull reads rows until buf is full or the file ends.
func readFull(r *parquet.Reader, buf []parquet.Row) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.ReadRows(buf[n:])
		for i := n; i < n+k; i++ {
			buf[i] = buf[i].Clone() // the reader may reuse the values' bytes on its next read
		}
		n += k
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}
