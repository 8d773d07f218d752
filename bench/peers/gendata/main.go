// Command gendata writes the peers bench's input: the same rows as CSV (with
// a header) and as JSON Lines, so every system reads identical content.
//
//	go run ./bench/peers/gendata -rows 1000000 -out /tmp/appflowd-peers/data
//
// Columns: id, name, email, amount (2 decimals, uniform in [0, 1000), so
// about 10% of rows fail the workload's amount > 100), created_at (ISO 8601
// UTC, 2020-2024) and country (2-letter code). Values never need CSV quoting.
// The output depends only on -rows and -seed: the generator is a fixed
// splitmix64 sequence, not math/rand or the clock.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

var (
	first     = []string{"Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gil", "Hana", "Ivo", "Jane", "Kai", "Lena", "Milo", "Nora", "Otto", "Pia"}
	last      = []string{"Abbott", "Baker", "Castro", "Dunn", "Ellis", "Ford", "Gray", "Hale", "Ingram", "Jones", "Klein", "Lopez", "Moss", "Nash", "Ortiz", "Price"}
	domains   = []string{"example.com", "example.org", "mail.example.net", "corp.example.io"}
	countries = []string{"US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "CA", "BR", "JP", "IN", "AU", "ZA", "SG"}
)

// splitmix64 is fully specified, so the data is stable across Go releases.
type splitmix struct{ s uint64 }

func (r *splitmix) n(k int) int {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return int((z ^ (z >> 31)) % uint64(k))
}

type row struct {
	id                               int64
	name, email, amount, ts, country string
}

func main() {
	rows := flag.Int("rows", 1_000_000, "data rows")
	out := flag.String("out", ".", "directory for data_<rows>.csv and data_<rows>.jsonl")
	seed := flag.Uint64("seed", 7, "generator seed")
	flag.Parse()
	if err := run(*rows, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func run(rows int, out string, seed uint64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	base := filepath.Join(out, "data_"+strconv.Itoa(rows))
	csvF, err := os.Create(base + ".csv")
	if err != nil {
		return err
	}
	defer csvF.Close()
	jsonF, err := os.Create(base + ".jsonl")
	if err != nil {
		return err
	}
	defer jsonF.Close()
	cw, jw := bufio.NewWriterSize(csvF, 1<<20), bufio.NewWriterSize(jsonF, 1<<20)
	cw.WriteString("id,name,email,amount,created_at,country\n")

	epoch := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	const fiveYears = 5 * 365 * 86400
	r := &splitmix{s: seed}
	var c, j []byte
	for i := 1; i <= rows; i++ {
		f, l := r.n(len(first)), r.n(len(last))
		cents := r.n(100_000)
		rec := row{
			id:      int64(i),
			name:    first[f] + " " + last[l],
			email:   first[f] + "." + last[l] + strconv.Itoa(r.n(1000)) + "@" + domains[r.n(len(domains))],
			amount:  fmt.Sprintf("%d.%02d", cents/100, cents%100),
			ts:      time.Unix(epoch+int64(r.n(fiveYears)), 0).UTC().Format(time.RFC3339),
			country: countries[r.n(len(countries))],
		}
		c = strconv.AppendInt(c[:0], rec.id, 10)
		for _, v := range []string{rec.name, rec.email, rec.amount, rec.ts, rec.country} {
			c = append(append(c, ','), v...)
		}
		cw.Write(append(c, '\n'))

		j = strconv.AppendInt(append(j[:0], `{"id":`...), rec.id, 10)
		j = append(append(append(j, `,"name":"`...), rec.name...), '"')
		j = append(append(append(j, `,"email":"`...), rec.email...), '"')
		j = append(append(j, `,"amount":`...), rec.amount...)
		j = append(append(append(j, `,"created_at":"`...), rec.ts...), '"')
		j = append(append(append(j, `,"country":"`...), rec.country...), `"}`...)
		jw.Write(append(j, '\n'))
	}
	for _, w := range []*bufio.Writer{cw, jw} {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if err := csvF.Close(); err != nil {
		return err
	}
	return jsonF.Close()
}
