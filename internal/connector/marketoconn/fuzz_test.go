package marketoconn

import (
	"context"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/httpconn"
	"github.com/appflowd/appflowd/internal/csvrec"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
)

// parseAll runs the export file parser over file, with the window on
// updatedAt when windowed, and returns the rows it emitted.
func parseAll(file string, windowed bool) (int, error) {
	p := &plan{object: "leads", fields: []string{"id", "email", "score", "updatedAt"},
		types: []record.FieldType{httpconn.TypeInteger, httpconn.TypeString, httpconn.TypeDouble, httpconn.TypeDateTime}}
	r := &connector.ReadRequest{}
	if windowed {
		p.winField = "updatedAt"
		r.Window = &connector.Window{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	rows, finals := 0, 0
	rd, err := httpconn.NewReader[*plan](context.Background(), "Marketo", r, connector.Split{Name: "leads", Opaque: p}, func(b *record.Batch) error {
		rows += b.Len()
		if b.Final {
			finals++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	err = parse(context.Background(), rd, []byte(file), true)
	if err == nil && finals != 1 {
		return rows, fault.New(fault.Internal, "%d Final batches", finals)
	}
	return rows, err
}

// Whatever the export file holds, parse emits a row per record of it or
// fails as a ConnectorServer fault: a record cut short or with extra
// cells is not read as if its last cells were empty.
func FuzzParseExport(f *testing.F) {
	for _, s := range []string{
		"id,email,score,updatedAt\n1,a@example.com,1.5,2024-02-01T10:00:00Z\n2,\"b,c\"\"d\"\"@example.com\",,2024-03-01T10:00:00Z\n",
		"id,email\r\n1,\"multi\r\nline\"\r\n",
		"\ufeffid,email\n", "", "id,email\n1\n", "id,email\n1,a,b\n", "id,email\n1,a\n\n2,b\n", "id,email\n1,\"a\n",
		`{"success":true,"result":[]}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, file string, windowed bool) {
		rows, err := parseAll(file, windowed)
		if err != nil {
			if fault.CodeOf(err) != fault.ConnectorServer {
				t.Fatalf("parse(%q): %v, want a ConnectorServer fault", file, err)
			}
			return
		}
		recs, cerr := csvrec.ReadAll([]byte(file))
		if cerr != nil {
			t.Fatalf("parse(%q) read %d rows of a broken file (%v)", file, rows, cerr)
		}
		data := 0
		for _, rec := range recs[min(1, len(recs)):] {
			if len(rec) == 1 && rec[0] == "" && len(recs[0]) > 1 {
				continue // a blank line
			}
			if len(rec) != len(recs[0]) {
				t.Fatalf("parse(%q) read a record of %d cells under %d columns", file, len(rec), len(recs[0]))
			}
			data++
		}
		if !windowed && rows != data {
			t.Fatalf("parse(%q) = %d rows, want %d", file, rows, data)
		}
	})
}

// The fuzzer found records cut short (or with cells past the header) read
// as if the missing cells were empty.
func TestExportRecordsMatchTheHeader(t *testing.T) {
	for _, file := range []string{"id,email\n1\n", "id,email\n1,a,b\n", "id,email,score,updatedAt\n1,a,2,2024-02-01T10:00:00Z\n2,b"} {
		if _, err := parseAll(file, false); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("parse(%q): err = %v, want a ConnectorServer fault", file, err)
		}
	}
	if n, err := parseAll("id,email\n1,a\n\n2,b\n", false); err != nil || n != 2 {
		t.Errorf("parse with a blank line = %d, %v; want 2 rows", n, err)
	}
}

// checkAs reads any answer to an envelope or a classified fault.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"requestId":"a#1","success":false,"errors":[{"code":"601","message":"Access token invalid"}]}`,
		`{"success":false,"errors":[{"code":1029,"message":"Export daily quota exceeded"}]}`, `{"success":true,"result":[{"exportId":"e1"}]}`, `<html>`, ``} {
		f.Add(200, s)
		f.Add(503, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		r := &httpconn.Response{Status: status, Body: []byte(body), Request: &httpconn.Request{Path: "/rest/v1/leads.json"}}
		err := check(r)
		if err == nil {
			if status/100 != 2 {
				t.Fatalf("check(%d, %q) accepted", status, body)
			}
			return
		}
		if fault.CodeOf(err) == fault.Unknown {
			t.Fatalf("check(%d, %q) = unclassified %v", status, body, err)
		}
	})
}
