package fakeapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestServerAnswersJSONAndReadsBodies(t *testing.T) {
	var calls Counter
	s := StartFunc(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Inc(r.URL.Path)
		tok, ok := Bearer(r)
		if !ok || tok != "t" {
			JSONAs("application/json; charset=utf-8")(w, http.StatusUnauthorized, map[string]string{"error": "no token"})
			return
		}
		var in struct{ N int }
		if err := ReadJSON(r, &in); err != nil {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		WriteJSON(w, http.StatusCreated, map[string]int{"twice": 2 * in.N})
	})
	do := func(token, body string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL()+"/x", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, ct, body := do("t", `{"N":21}`); code != 201 || ct != JSON || body != "{\"twice\":42}\n" {
		t.Errorf("good call: %d %q %q", code, ct, body)
	}
	if code, ct, _ := do("", `{}`); code != 401 || ct != "application/json; charset=utf-8" {
		t.Errorf("no token: %d %q", code, ct)
	}
	if code, _, _ := do("t", `{`); code != 400 {
		t.Errorf("bad body: %d", code)
	}
	if n := calls.Get("/x"); n != 3 {
		t.Errorf("counted %d calls, want 3", n)
	}
}

func TestBudgetSpendsExactlyN(t *testing.T) {
	var b Budget
	if b.Take() {
		t.Fatal("an empty budget spent a failure")
	}
	b.Set(50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.Take() {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if taken != 50 {
		t.Errorf("took %d failures of 50", taken)
	}
}

func TestLogCopies(t *testing.T) {
	var l Log
	l.Add("a")
	got := l.Lines()
	got[0] = "changed"
	l.Add("b")
	if lines := l.Lines(); len(lines) != 2 || lines[0] != "a" || lines[1] != "b" {
		t.Errorf("lines %v", lines)
	}
	if n := l.Count(func(s string) bool { return s == "b" }); n != 1 || l.Len() != 2 {
		t.Errorf("counted %d b of %d lines, want 1 of 2", n, l.Len())
	}
	l.Reset()
	if l.Len() != 0 || l.Lines() != nil {
		t.Errorf("after Reset: %v", l.Lines())
	}
}

func TestThrottleSetsRetryAfterNTimes(t *testing.T) {
	var th Throttle
	if th.Take(httptest.NewRecorder()) {
		t.Fatal("an empty throttle throttled")
	}
	th.Set(2, "7")
	for i := range 2 {
		w := httptest.NewRecorder()
		if !th.Take(w) || w.Header().Get("Retry-After") != "7" {
			t.Fatalf("call %d: not throttled with Retry-After 7 (header %q)", i, w.Header().Get("Retry-After"))
		}
	}
	w := httptest.NewRecorder()
	if th.Take(w) || w.Header().Get("Retry-After") != "" {
		t.Error("a third call was throttled")
	}
}

func TestWriteRawJSONKeepsBodyVerbatim(t *testing.T) {
	w := httptest.NewRecorder()
	WriteRawJSON(w, http.StatusBadRequest, `{"data":[{"id":`)
	if w.Code != 400 || w.Header().Get("Content-Type") != JSON || w.Body.String() != `{"data":[{"id":` {
		t.Errorf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
}
