package amplitudeconn

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/fault"
)

// exportZip is an Export API answer: a ZIP of one gzipped JSON Lines file.
func exportZip(lines []byte) []byte {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(lines)
	_ = w.Close()
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	f, _ := zw.Create("187520/187520_2024-01-02_0#0.json.gz")
	_, _ = f.Write(gz.Bytes())
	_ = zw.Close()
	return z.Bytes()
}

// fuzzRead reads a day of events from a vendor answering body to every
// export.
func fuzzRead(t *testing.T, body []byte) (int, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, string(body) },
		Header: func(*http.Request) http.Header { return http.Header{"Content-Type": {"application/zip"}} }}
	d, err := Open(connector.Deps{HTTPClient: v.Client(), Endpoints: connector.Endpoints{connector.EndpointAmplitude: "https://amplitude.test"},
		Now: func() time.Time { return base.Add(30 * 24 * time.Hour) }},
		connector.Profile{Name: "amp", Credentials: json.RawMessage(`{"apiKey":"k","secretKey":"s"}`)}, Options{Retry: (&sleeps{}).policy()})
	if err != nil {
		t.Fatal(err)
	}
	day := base.Add(24 * time.Hour)
	bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: Events, Fields: []string{"uuid", "event_type", UploadTime},
		Filters: []connector.Filter{between(day, day.Add(time.Hour-time.Millisecond))}})
	return connectortest.Rows(bs), err
}

// Whatever the export holds (a ZIP of gzipped JSON Lines, or any bytes),
// the read fails as a fault or gives each event line as a record.
func FuzzExport(f *testing.F) {
	for _, s := range []string{
		`{"uuid":"a1","event_type":"click","server_upload_time":"2024-01-02 00:10:00.123456"}` + "\n" + `{"uuid":"a2","event_type":"view","server_upload_time":"2024-01-02 00:20:00"}`,
		`{"uuid":"a1"}`, "\n\n", `null`, `[1]`, `{"uuid":`, "PK\x03\x04",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, raw bool) {
		body := in
		if !raw {
			body = exportZip(in)
		}
		rows, err := fuzzRead(t, body)
		if err != nil || raw {
			return
		}
		events := 0
		for _, line := range strings.Split(string(in), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			var ev map[string]json.RawMessage
			if json.Unmarshal([]byte(line), &ev) != nil || ev == nil {
				t.Fatalf("read %d rows of %q, whose line %q is not an event", rows, in, line)
			}
			events++
		}
		if rows > events {
			t.Fatalf("read %d rows of %d events", rows, events)
		}
	})
}

// The fuzzer found a JSON null line read as an event of nulls.
func TestNullLineFails(t *testing.T) {
	if _, err := fuzzRead(t, exportZip([]byte("{\"uuid\":\"a1\"}\nnull\n"))); fault.CodeOf(err) != fault.ConnectorServer {
		t.Errorf("err = %v, want a ConnectorServer fault", err)
	}
}
