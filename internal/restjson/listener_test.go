package restjson

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
)

// serveListener serves the API on a loopback listener wrapped by Listener,
// as `appflowd serve` does.
func serveListener(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawRequest writes raw bytes on a new connection and reads the answer.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestMalformedRequestsGetAWSErrors(t *testing.T) {
	h := NewHandler(newFake(), Options{Logger: quietLogger})
	addr := serveListener(t, &http.Server{Handler: h, MaxHeaderBytes: 4096})
	tests := []struct {
		name, raw string
		status    int
	}{
		{"bad percent-encoding in the path", "GET /tags/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad percent-encoding in a POST path", "POST /describe-flow/%g1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 400},
		{"no Host header", "GET /flows HTTP/1.1\r\n\r\n", 400},
		{"garbage request line", "HELLO\r\n\r\n", 400},
		{"header block too large", "GET /flows HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8192) + "\r\n\r\n", 431},
		{"unknown transfer encoding", "POST /list-flows HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: rot13\r\n\r\n", 501},
		{"unsupported protocol version", "GET /flows HTTP/9.9\r\nHost: x\r\n\r\n", 505},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, addr, tt.raw)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if msg := expectError(t, resp, tt.status, "ValidationException"); !strings.HasPrefix(msg, "Malformed HTTP request") {
				t.Errorf("message %q, want one starting Malformed HTTP request", msg)
			}
		})
	}

	// A served response passes untouched, on the same kind of connection.
	resp := rawRequest(t, addr, "GET /tags/arn%3Aaws%3Aappflow%3Aus-east-1%3A000000000000%3Aflow%2Fx HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || resp.Header.Get("X-Amzn-ErrorType") != "" {
		t.Errorf("ListTagsForResource: got %d %q, want 200", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}

func TestRewritePlainErrorLeavesOtherWritesAlone(t *testing.T) {
	for _, b := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nfine",
		"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfrom a handler",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{}",
		"{\"message\":\"HTTP/1.1 400 Bad Request\"}",
		"HTTP/1.1 ",
	} {
		if out, ok := rewritePlainError([]byte(b)); ok {
			t.Errorf("rewritePlainError(%q) = %q, want it left alone", b, out)
		}
	}
}
