package slackconn

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzRead reads a channel's history from a vendor answering body to
// every call, and returns the rows.
func fuzzRead(t *testing.T, body string) (int, error) {
	v := &connectortest.Vendor{Answer: func(*http.Request) (int, string) { return 200, body }}
	d, err := Open(connector.Deps{HTTPClient: v.Client()}, connector.Profile{Name: "slack",
		Properties: json.RawMessage(`{"instanceUrl":"https://acme.slack.com"}`), Credentials: json.RawMessage(goodCreds)},
		Options{APIURL: "https://slack.test/api", Retry: (&sleeps{}).policy(), PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := connectortest.FuzzRead(t, v, d, &connector.ReadRequest{Object: "conversations/C1", Fields: []string{"ts", "text", "reply_count", "reactions"}})
	return connectortest.Rows(bs), err
}

// Whatever conversations.history answers (the same page to every
// cursor), the read fails as a fault or gives each message.
func FuzzHistory(f *testing.F) {
	connectortest.FuzzList(f, "messages", []string{
		`{"ok":true,"messages":[{"type":"message","user":"U1","text":"third","ts":"1704067320.000000"},{"type":"message","text":"second","ts":"1704067260.000100","reply_count":2,"reactions":[{"name":"+1","count":1}]}],"has_more":false,"response_metadata":{"next_cursor":""}}`,
		`{"ok":true,"messages":[{"ts":"1704067200.000000","text":"first"}],"has_more":true,"response_metadata":{"next_cursor":"bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz"}}`,
		`{"ok":false,"error":"channel_not_found"}`, `{"ok":false,"error":"ratelimited"}`, `{"ok":true}`, `{"ok":true,"messages":[{"text":"no ts"}]}`, `<html>`,
	}, fuzzRead)
}

// The fuzzer found a next_cursor that does not move paged forever, and an
// answer without messages read as an empty channel.
func TestBrokenHistoryFails(t *testing.T) {
	for _, body := range []string{`{"ok":true}`, `{"ok":true,"messages":[],"has_more":true,"response_metadata":{"next_cursor":"abc"}}`} {
		if _, err := fuzzRead(t, body); fault.CodeOf(err) != fault.ConnectorServer {
			t.Errorf("%s: err = %v, want a ConnectorServer fault", body, err)
		}
	}
}
