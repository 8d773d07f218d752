package parquetfile

import (
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// BenchmarkWrite writes a million rows shaped like the bench workload's
// output (an id, a name, an email, an amount, a timestamp text and a
// country, the last dictionary-encoded), one column after the other as
// s3conn does, Snappy included: its pages encoded inline and by 2
// workers.
const benchRows = 1 << 20

func BenchmarkWrite(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	first := []string{"Lisa", "Andrew", "Maria", "John", "Wei", "Fatima", "Olga", "Pedro"}
	last := []string{"Brown", "Perez", "Smith", "Kowalski", "Chen", "Haddad", "Ivanova", "Silva"}
	countries := []string{"CA", "SE", "US", "DE", "FR", "JP", "BR", "IN", "ZA", "AR"}
	names, emails, ats, cs := make([]string, benchRows), make([]string, benchRows), make([]string, benchRows), make([]string, benchRows)
	amounts := make([]float64, benchRows)
	for i := range benchRows {
		f, l := first[rng.IntN(len(first))], last[rng.IntN(len(last))]
		names[i] = f + " " + l
		emails[i] = fmt.Sprintf("*****%s%d@corp.example.com", l, rng.IntN(10000))
		ats[i] = fmt.Sprintf("202%d-%02d-%02dT%02d:%02d:%02dZ", rng.IntN(5), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))
		cs[i] = countries[rng.IntN(len(countries))]
		amounts[i] = float64(rng.IntN(200000)) / 100
	}
	cols := []Column{{"id", Int64, false}, {"name", String, false}, {"email", String, false}, {"amount", Double, false},
		{"created_at", String, false}, {"country", String, true}}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchWrite(b, cols, Options{Workers: workers}, names, emails, ats, cs, amounts)
		})
	}
}

func benchWrite(b *testing.B, cols []Column, opt Options, names, emails, ats, cs []string, amounts []float64) {
	b.SetBytes(benchRows * 6)
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewWriter(io.Discard, cols, opt)
		if err != nil {
			b.Fatal(err)
		}
		for lo := 0; lo < benchRows; lo += 128 << 10 {
			hi := lo + 128<<10
			for i := lo; i < hi; i++ {
				w.Column(0).Int64(int64(i))
			}
			for j, vals := range [][]string{1: names, 2: emails, 4: ats, 5: cs} {
				if vals == nil {
					continue
				}
				c := w.Column(j)
				for _, s := range vals[lo:hi] {
					c.String(s)
				}
			}
			c := w.Column(3)
			for _, f := range amounts[lo:hi] {
				c.Double(f)
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStringColumn writes one String column of a million values,
// Snappy included, inline: values of the bench workload's shapes, each as
// the column of its Dict setting.
func BenchmarkStringColumn(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	names := make([]string, 4096)
	for i := range names {
		names[i] = fmt.Sprintf("%s %s", []string{"Lisa", "Andrew", "Maria", "John", "Wei", "Fatima", "Olga", "Pedro"}[i%8], fmt.Sprintf("Name%d", i))
	}
	countries := []string{"CA", "SE", "US", "DE", "FR", "JP", "BR", "IN", "ZA", "AR"}
	for _, bc := range []struct {
		name string
		dict bool
		val  func() string
	}{
		{"country/dict", true, func() string { return countries[rng.IntN(len(countries))] }},
		{"name/dict", true, func() string { return names[rng.IntN(len(names))] }},
		{"name/probed", false, func() string { return names[rng.IntN(len(names))] }},
		{"email/plain", false, func() string { return fmt.Sprintf("*****name%d@corp.example.com", rng.IntN(1e6)) }},
	} {
		vals := make([]string, benchRows)
		for i := range vals {
			vals[i] = bc.val()
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w, err := NewWriter(io.Discard, []Column{{"s", String, bc.dict}}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				c := w.Column(0)
				for lo := 0; lo < benchRows; lo += 128 << 10 {
					for _, s := range vals[lo : lo+128<<10] {
						c.String(s)
					}
					if err := w.Flush(); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/value")
		})
	}
}
