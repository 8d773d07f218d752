package slackconn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/slackconn/slacktest"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/record"
	"github.com/appflowd/appflowd/internal/retry"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) policy() retry.Policy {
	return retry.Policy{Attempts: 4, Jitter: func() float64 { return 0 }, Sleep: func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.d = append(s.d, d)
		s.mu.Unlock()
		return ctx.Err()
	}}
}

func openTest(t *testing.T, w *slacktest.Workspace, creds string, pageSize int, pol retry.Policy) *Driver {
	t.Helper()
	d, err := Open(connector.Deps{HTTPClient: w.Client()}, connector.Profile{Name: "slack",
		Properties: json.RawMessage(`{"instanceUrl":"https://acme.slack.com"}`), Credentials: json.RawMessage(creds)},
		Options{APIURL: w.URL(), Retry: pol, PageSize: pageSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

const goodCreds = `{"clientId":"cid","clientSecret":"secret","accessToken":"xoxp-1"}`

type harness struct {
	w *slacktest.Workspace
	n int
}

func (h *harness) SourceDriver(ctx context.Context, t *testing.T) connector.SourceDriver {
	return openTest(t, h.w, goodCreds, 999, (&sleeps{}).policy())
}

func (h *harness) Seed(ctx context.Context, t *testing.T, tables []connectortest.Table) *connector.ReadRequest {
	h.n++
	id := fmt.Sprintf("C%04d", h.n)
	h.w.AddChannel(id, "conf", "public_channel")
	var names []string
	for _, tb := range tables {
		for _, f := range tb.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, row := range tb.Rows {
			m := map[string]any{}
			for i, f := range tb.Fields {
				m[f] = row[i]
			}
			h.w.Post(id, m)
		}
	}
	return &connector.ReadRequest{FlowName: "f", ExecutionID: "e", Object: "conversations/" + id, Fields: names}
}

func (h *harness) SeedMalformed(ctx context.Context, t *testing.T) (*connector.ReadRequest, string) {
	h.n++
	id := fmt.Sprintf("CBAD%d", h.n)
	h.w.AddChannel(id, "bad", "public_channel").Malformed()
	return &connector.ReadRequest{Object: "conversations/" + id, Fields: []string{"text"}}, "conversations/" + id
}

func TestConformance(t *testing.T) {
	connectortest.RunSource(t, &harness{w: slacktest.New(t)})
}

func readAll(t *testing.T, d *Driver, req *connector.ReadRequest) ([]map[string]string, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := d.Splits(ctx, req)
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	for _, s := range splits {
		err := d.ReadSplit(ctx, req, s, func(b *record.Batch) error {
			for i := range b.Len() {
				r := map[string]string{}
				for j, v := range b.Row(i) {
					if v.K != record.Missing {
						r[b.Fields[j]] = v.Text()
					}
				}
				rows = append(rows, r)
			}
			return nil
		})
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func seedChannel(w *slacktest.Workspace) {
	w.AddChannel("C1", "general", "public_channel")
	w.Post("C1", map[string]any{"type": "message", "user": "U1", "text": "first", "ts": "1704067200.000000"})
	w.Post("C1", map[string]any{"type": "message", "user": "U2", "text": "second", "ts": "1704067260.000200", "reply_count": 2,
		"reactions": []any{map[string]any{"name": "+1", "count": 1}}})
	w.Post("C1", map[string]any{"type": "message", "user": "U1", "text": "third", "ts": "1704067320.000000", "edited": map[string]any{"user": "U1", "ts": "1704067321.000000"}})
}

func TestHistoryPagingTypesAndFilters(t *testing.T) {
	w := slacktest.New(t)
	seedChannel(w)
	d := openTest(t, w, goodCreds, 2, (&sleeps{}).policy())
	req := &connector.ReadRequest{Object: "conversations/C1", Fields: []string{"ts", "text", "reply_count", "reactions", "edited"}}
	rows, err := readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"ts": "2024-01-01T00:02:00.000Z", "text": "third", "edited": `{"ts":"1704067321.000000","user":"U1"}`},
		{"ts": "2024-01-01T00:01:00.000Z", "text": "second", "reply_count": "2", "reactions": `[{"count":1,"name":"+1"}]`},
		{"ts": "2024-01-01T00:00:00.000Z", "text": "first"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows\n got %v\nwant %v", rows, want)
	}
	if got := w.Calls("conversations.history"); got != 2 {
		t.Errorf("%d history calls, want 2 pages", got)
	}

	// GREATER_THAN the first message's ms excludes it exactly; the window's
	// upper end is exclusive even though Slack is asked inclusively.
	req.Filters = []connector.Filter{{Field: "ts", Operator: "GREATER_THAN", Values: []string{"1704067200000"}, DataType: "datetime"}}
	req.Window = &connector.Window{Field: "ts", Start: time.Unix(1704067200, 0), End: time.Unix(1704067320, 0)}
	rows, err = readAll(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["text"] != "second" {
		t.Errorf("filtered rows %v, want only second", rows)
	}
	qs := w.Queries()
	last := qs[len(qs)-1]
	if !strings.Contains(last, "oldest=1704067200.001000") || !strings.Contains(last, "latest=1704067320.000000") || !strings.Contains(last, "inclusive=true") {
		t.Errorf("history query %s does not push the ts range down", last)
	}
}

func TestErrors(t *testing.T) {
	w := slacktest.New(t)
	seedChannel(w)
	ctx := context.Background()
	bad := openTest(t, w, `{"clientId":"cid","clientSecret":"secret","accessToken":"xoxp-wrong"}`, 0, (&sleeps{}).policy())
	err := bad.CheckProfile(ctx)
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("CheckProfile with a bad token: %v, want AuthFailed naming invalid_auth", err)
	}
	if err := openTest(t, w, goodCreds, 0, (&sleeps{}).policy()).CheckProfile(ctx); err != nil {
		t.Errorf("CheckProfile: %v", err)
	}
	noscope := openTest(t, w, `{"clientId":"cid","clientSecret":"secret","accessToken":"xoxp-noscope"}`, 0, (&sleeps{}).policy())
	_, err = readAll(t, noscope, &connector.ReadRequest{Object: "conversations/C1"})
	if !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "channels:history") {
		t.Errorf("scope-less read: %v", err)
	}
	d := openTest(t, w, goodCreds, 0, (&sleeps{}).policy())
	_, err = readAll(t, d, &connector.ReadRequest{Object: "conversations/CX"})
	if !fault.Is(err, fault.ConnectorServer) || !strings.Contains(err.Error(), "channel_not_found") || !strings.Contains(err.Error(), "CX") {
		t.Errorf("unknown channel: %v", err)
	}
	if _, err := d.Splits(ctx, &connector.ReadRequest{Object: "C1"}); !fault.Is(err, fault.Invalid) {
		t.Errorf("bad object: %v", err)
	}
}

func TestRateLimitRetryAfter(t *testing.T) {
	w := slacktest.New(t)
	seedChannel(w)
	w.LimitHistory(2, time.Hour, 2)
	s := &sleeps{}
	d := openTest(t, w, goodCreds, 1, s.policy())
	_, err := readAll(t, d, &connector.ReadRequest{Object: "conversations/C1"})
	if !fault.Is(err, fault.Throttled) || !strings.Contains(err.Error(), "ratelimited") {
		t.Fatalf("read past the limit: %v, want Throttled ratelimited", err)
	}
	if len(s.d) != 3 || s.d[0] != 2*time.Second {
		t.Errorf("waits %v, want 3 of at least Retry-After 2s", s.d)
	}
}

func TestCatalogAndOAuth(t *testing.T) {
	w := slacktest.New(t)
	w.AddChannel("C1", "general", "public_channel")
	w.AddChannel("C2", "secret", "private_channel")
	w.AddChannel("C3", "old", "public_channel").Archived = true
	w.AddChannel("D1", "", "im").User = "U9"
	var saved json.RawMessage
	d, err := Open(connector.Deps{HTTPClient: w.Client(), Env: func(k string) string {
		if k == "APPFLOWD_SLACK_API_URL" {
			return w.URL()
		}
		return ""
	}}, connector.Profile{Properties: json.RawMessage(`{"instanceUrl":"https://acme.slack.com/"}`),
		Credentials:     json.RawMessage(`{"clientId":"cid","clientSecret":"secret","oAuthRequest":{"authCode":"good","redirectUri":"https://x"}}`),
		SaveCredentials: func(_ context.Context, c json.RawMessage) error { saved = c; return nil }},
		Options{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	top, err := d.ListEntities(ctx, "")
	if err != nil || len(top["Objects"]) != 1 || top["Objects"][0] != (connector.Entity{Name: "conversations", Label: "Conversations", HasNestedEntities: true}) {
		t.Fatalf("top: %v %v", top, err)
	}
	ch, err := d.ListEntities(ctx, "conversations")
	if err != nil {
		t.Fatal(err)
	}
	want := []connector.Entity{{Name: "conversations/C1", Label: "general"}, {Name: "conversations/C2", Label: "secret"}, {Name: "conversations/D1", Label: "U9"}}
	if fmt.Sprint(ch["Channels"]) != fmt.Sprint(want) {
		t.Errorf("channels %v, want %v", ch, want)
	}
	if !strings.Contains(string(saved), `"accessToken":"xoxp-1"`) || strings.Contains(string(saved), "oAuthRequest") {
		t.Errorf("saved credentials %s", saved)
	}
	fields, err := d.DescribeEntity(ctx, "conversations/C1")
	if err != nil || fields[2].Name != "ts" || !fields[2].IsPrimaryKey || !fields[2].IsTimestampForIncremental || fields[2].Type != "datetime" {
		t.Errorf("describe: %v %v", fields, err)
	}
	if err := d.CheckProfile(ctx); err != nil {
		t.Errorf("CheckProfile: %v", err)
	}
	_, err = Open(connector.Deps{}, connector.Profile{Credentials: json.RawMessage(`{"clientId":"cid","clientSecret":"secret","oAuthRequest":{"authCode":"bad"}}`)}, Options{APIURL: w.URL()})
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := Open(connector.Deps{HTTPClient: w.Client()}, connector.Profile{Credentials: json.RawMessage(`{"clientId":"cid","clientSecret":"secret","oAuthRequest":{"authCode":"bad"}}`)}, Options{APIURL: w.URL(), Retry: (&sleeps{}).policy()})
	if err := bad.CheckProfile(ctx); !fault.Is(err, fault.AuthFailed) || !strings.Contains(err.Error(), "invalid_code") {
		t.Errorf("bad code: %v", err)
	}
}

// The roles the driver plays, checked at compile time.
var (
	_ connector.SourceDriver   = (*Driver)(nil)
	_ connector.CatalogDriver  = (*Driver)(nil)
	_ connector.ProfileChecker = (*Driver)(nil)
)
