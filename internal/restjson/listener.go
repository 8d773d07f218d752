package restjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// Listener wraps ln so that the errors net/http answers by itself, before
// any handler runs (a malformed request line or path such as
// "GET /tags/%zz", a header block too large, an unsupported transfer
// encoding), come out in the AWS JSON error shape like every other error:
// the status net/http chose, X-Amzn-ErrorType ValidationException, a
// request id and {"message": ...}.
//
// net/http writes those answers straight to the connection in one Write,
// as "HTTP/1.1 <status>" followed by exactly plainErrorHeaders; a handler's
// response never starts so (its headers are sorted, Connection before
// Content-Type), so the rewrite cannot touch a served response.
func Listener(ln net.Listener) net.Listener { return &awsErrorListener{ln} }

type awsErrorListener struct{ net.Listener }

func (l *awsErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &awsErrorConn{Conn: c}, nil
}

// plainErrorHeaders are the headers net/http puts on its own error answers.
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

type awsErrorConn struct{ net.Conn }

func (c *awsErrorConn) Write(b []byte) (int, error) {
	if out, ok := rewritePlainError(b); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// CloseWrite keeps net/http's half-close after a 431 working.
func (c *awsErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rewritePlainError turns one of net/http's own plain-text error answers
// into the AWS shape; ok is false for anything else.
func rewritePlainError(b []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(b, []byte(proto)) {
		return nil, false
	}
	eol := bytes.IndexByte(b, '\r')
	if eol < 0 || !bytes.HasPrefix(b[eol:], []byte(plainErrorHeaders)) {
		return nil, false
	}
	status, err := strconv.Atoi(string(b[len(proto):min(eol, len(proto)+3)]))
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	detail := string(b[eol+len(plainErrorHeaders):])
	msg := "Malformed HTTP request: " + detail
	if status == http.StatusBadRequest && detail == "400 Bad Request" {
		// net/http gives no reason for a request line it cannot parse.
		msg = "Malformed HTTP request: the request line, the path's percent-encoding or a header is invalid"
	}
	body, _ := json.Marshal(map[string]string{"message": msg})
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	fmt.Fprintf(&out, "Content-Type: application/json\r\nX-Amzn-Errortype: ValidationException\r\nX-Amzn-Requestid: %s\r\n", newRequestID())
	fmt.Fprintf(&out, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	out.Write(body)
	return out.Bytes(), true
}
