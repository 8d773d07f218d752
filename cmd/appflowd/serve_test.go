package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/restjson"
)

// TestSlowClientsAreCutOff serves the real API with short limits and opens
// connections that trickle (one body byte, half a header block, nothing
// after a request): each is closed by the server, while a client that
// behaves is served meanwhile.
func TestSlowClientsAreCutOff(t *testing.T) {
	a, err := app.New(context.Background(), app.Config{DataDir: t.TempDir(), Region: "us-east-1", AccountID: "000000000000", PlanInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(context.Background()); a.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const limit = 200 * time.Millisecond
	srv := newHTTPServer(a.Handler, serverLimits{ReadHeader: limit, Read: limit, Idle: limit})
	go srv.Serve(restjson.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	dial := func(raw string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		return c
	}
	const slowBody = "POST /list-flows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	var slow []net.Conn
	for i := 0; i < 50; i++ {
		slow = append(slow, dial(slowBody))
	}
	slowHeaders := dial("POST /list-flows HTTP/1.1\r\nHost: x\r\nContent-Le")
	idle := dial("POST /list-flows HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")

	// Others are served while the slow ones hang.
	resp, err := http.Post("http://"+addr+"/list-flows", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ListFlows beside slow clients: %d %s", resp.StatusCode, body)
	}

	// closed waits for the server to close c (the read guard only keeps a
	// broken server from hanging the test) and returns what it sent first.
	closed := func(name string, c net.Conn) string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(time.Minute))
		got, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: still open after a minute with a %v read timeout", name, limit)
		}
		return string(got)
	}
	for i, c := range slow {
		got := closed(fmt.Sprintf("slow body %d", i), c)
		if got != "" && !strings.Contains(got, "X-Amzn-Errortype: ValidationException") {
			t.Errorf("slow body %d: answered %q, want an AWS error or nothing", i, got)
		}
	}
	if got := closed("slow headers", slowHeaders); got != "" && !strings.Contains(got, "X-Amzn-Errortype: ValidationException") {
		t.Errorf("slow headers: answered %q", got)
	}
	if got := closed("idle keep-alive", idle); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("idle keep-alive: answered %q, want its 200 then a close", got)
	}
}

func TestInsecureWarnsNamingTheAddress(t *testing.T) {
	for _, tt := range []struct {
		c    config
		warn bool
	}{
		{config{Insecure: true}, true},
		{config{Insecure: false}, false},
		{config{Insecure: true, Credentials: "creds"}, false},
	} {
		var buf bytes.Buffer
		warnInsecure(slog.New(slog.NewTextHandler(&buf, nil)), tt.c, "0.0.0.0:8484")
		got := buf.String()
		if tt.warn != (strings.Contains(got, "level=WARN") && strings.Contains(got, "addr=0.0.0.0:8484")) {
			t.Errorf("insecure=%v credentials=%q: logged %q, want a warning %v", tt.c.Insecure, tt.c.Credentials, got, tt.warn)
		}
	}
}
