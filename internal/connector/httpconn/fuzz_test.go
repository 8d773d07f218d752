package httpconn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

// Whatever a vendor answers (status, Retry-After, body), Do returns the
// accepted answer or a classified error, never both or neither, and never
// waits a negative or shortened time for a Retry-After it was given.
func FuzzDo(f *testing.F) {
	f.Add(200, "", `{"ok":true}`)
	f.Add(400, "", `{"message":"field Foo is unknown"}`)
	f.Add(401, "", `{"error":"invalid_token","error_description":"expired"}`)
	f.Add(429, "7", ``)
	f.Add(503, "Sun, 01 Mar 2026 12:01:30 GMT", `<html>down</html>`)
	f.Add(429, "99999999999", `slow down`)
	f.Add(502, "-5", "\xff\xfe")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, after, body string) {
		status = 200 + abs(status)%400
		var waits []time.Duration
		c := New(connector.Deps{Now: func() time.Time { return now }, HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			h.Set("Retry-After", after)
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})}}, Config{Name: "Vendor", Base: "http://vendor.test", Retry: retry.Policy{Attempts: 2, Jitter: func() float64 { return 0 },
			Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}})
		res, err := c.Do(context.Background(), get("/x"))
		switch {
		case status < 300:
			if err != nil || res == nil || string(res.Body) != body {
				t.Fatalf("status %d: got %v, %v; want the body", status, res, err)
			}
		case err == nil || res != nil:
			t.Fatalf("status %d: got %v, %v; want an error alone", status, res, err)
		case fault.CodeOf(err) == fault.Unknown:
			var we *retry.WaitError
			if !errors.As(err, &we) {
				t.Fatalf("status %d: unclassified error %v", status, err)
			}
		}
		asked := retry.RetryAfter(http.Header{"Retry-After": {after}}, now)
		if asked < 0 {
			t.Fatalf("Retry-After %q: wait %v", after, asked)
		}
		if s, perr := strconv.ParseInt(strings.TrimSpace(after), 10, 64); perr == nil && s > 0 && asked < time.Second {
			t.Fatalf("Retry-After %q: wait %v, want at least a second", after, asked)
		}
		for _, w := range waits {
			if w < asked {
				t.Fatalf("Retry-After %q: waited %v, want at least %v", after, w, asked)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// ParseError reads any refusal body into a bounded message; the vendor's
// own shape wins, then OAuth's, then the text.
func FuzzParseError(f *testing.F) {
	for _, s := range []string{`{"error":"invalid_grant","error_description":"bad"}`, `{"error":{"code":1}}`, `<html><body>Bad gateway</body></html>`, "", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e := ParseError("Vendor", 500, []byte(body), nil)
		if e == nil || e.Vendor != "Vendor" || e.Status != 500 {
			t.Fatalf("ParseError(%q) = %+v", body, e)
		}
		if e.Code == "" && len(e.Message) > 300 {
			t.Fatalf("ParseError(%q): message of %d bytes, want at most 300", body, len(e.Message))
		}
		_ = e.Error()
	})
}

// Value keeps every JSON value's type and content.
func FuzzValue(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u00e9\n"`, `12`, `-0`, `1.50`, `1e400`, `12345678901234567890`, `true`, `false`, `null`, `{"a": [1, 2]}`, ` [ ] `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var v any
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		if d.Decode(&v) != nil || d.InputOffset() != int64(len(raw)) && strings.TrimSpace(raw[d.InputOffset():]) != "" {
			return // Value is given members of answers already decoded
		}
		got := Value(json.RawMessage(raw))
		switch v := v.(type) {
		case nil:
			if got.K != record.Null {
				t.Fatalf("Value(%s) = %v, want null", raw, got)
			}
		case bool:
			if got.K != record.Bool || got.Bool() != v {
				t.Fatalf("Value(%s) = %v, want %v", raw, got, v)
			}
		case string:
			if got.K != record.String || got.S != v {
				t.Fatalf("Value(%s) = %v, want %q", raw, got, v)
			}
		case json.Number:
			if got.K != record.Int && got.K != record.Decimal {
				t.Fatalf("Value(%s) = %v, want a number", raw, got)
			}
		default:
			var back any
			if got.K != record.JSON || json.Unmarshal([]byte(got.S), &back) != nil {
				t.Fatalf("Value(%s) = %v, want JSON", raw, got)
			}
		}
	})
}

// NextLink finds a next link only where the header names one.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{`<https://api.test/x?page=2>; rel="next", <https://api.test/x?page=9>; rel="last"`, `<a>; rel=prev`, `;`, `<>;rel=next`, "<a,b>; rel=next"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, link string) {
		got := NextLink(http.Header{"Link": {link}})
		if got != "" && !strings.Contains(link, got) {
			t.Fatalf("NextLink(%q) = %q, not in the header", link, got)
		}
	})
}
