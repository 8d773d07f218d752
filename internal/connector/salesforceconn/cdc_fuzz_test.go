package salesforceconn

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/connectortest"
	"github.com/appflowd/appflowd/internal/connector/salesforceconn/sftest"
	"github.com/appflowd/appflowd/internal/fault"
)

// fuzzCDC handshakes and subscribes at a test org, answers every
// first /meta/connect with body (later ones with no events), and polls
// from replay id 5.
func fuzzCDC(t testing.TB) func(t *testing.T, body string) (connector.EventPoll, error) {
	org := sftest.NewOrg(t)
	org.AddObject("Account", sftest.F("Name", "string"))
	return func(t *testing.T, body string) (connector.EventPoll, error) {
		connects := 0
		v := &connectortest.Vendor{Next: org.Client(), Answer: func(r *http.Request) (int, string) {
			if r.Body == nil || !strings.Contains(r.URL.Path, "/cometd/") {
				return 0, ""
			}
			req, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(req)))
			if strings.Contains(string(req), `"/meta/connect"`) {
				if connects++; connects > 1 { // then nothing more: the poll drains
					return 200, `[{"channel":"/meta/connect","successful":true}]`
				}
				return 200, body
			}
			return 0, ""
		}}
		es := NewEventSource(connector.Deps{HTTPClient: v.Client()}, func(ctx context.Context, account, name string) (connector.Profile, error) {
			props, _ := json.Marshal(map[string]string{"instanceUrl": org.URL()})
			creds, _ := json.Marshal(map[string]string{"accessToken": sftest.AccessToken, "refreshToken": sftest.RefreshToken})
			return connector.Profile{Name: name, Properties: props, Credentials: creds}, nil
		})
		es.Opts = Options{ClientID: sftest.ClientID, ClientSecret: sftest.ClientSecret}
		es.Wait, es.Budget = time.Millisecond, 200*time.Millisecond
		props, _ := json.Marshal(map[string]any{"object": "Account"})
		return es.Poll(context.Background(), connector.EventFlow{AccountID: "000000000000", FlowName: "f", ConnectorType: Type, ProfileName: "sf", Properties: props},
			json.RawMessage(`{"replayId":5}`), 100)
	}
}

// Whatever a /meta/connect answers, a poll fails as a fault or takes the
// change events it holds; a change event without a replay id is not
// dropped as if it had been taken before.
func FuzzCDCConnect(f *testing.F) {
	for _, s := range []string{
		`[{"channel":"/meta/connect","successful":true},{"channel":"/data/AccountChangeEvent","data":{"schema":"x","payload":{"ChangeEventHeader":{"entityName":"Account","changeType":"CREATE","recordIds":["001A"],"commitTimestamp":1704067200000}},"event":{"replayId":6}}}]`,
		`[{"channel":"/meta/connect","successful":true},{"channel":"/data/AccountChangeEvent","data":{"payload":{"ChangeEventHeader":{"changeType":"UPDATE","recordIds":["001B"]}}}}]`,
		`[{"channel":"/meta/connect","successful":false,"error":"403::Unknown client","advice":{"reconnect":"handshake"}}]`,
		`[{"channel":"/meta/connect","successful":true}]`, `{}`, `[]`,
	} {
		f.Add(s)
	}
	poll := fuzzCDC(f)
	f.Fuzz(func(t *testing.T, body string) {
		_, err := poll(t, body)
		if err != nil {
			if fault.CodeOf(err) == fault.Unknown {
				t.Fatalf("%q: unclassified error %v", body, err)
			}
			return
		}
		var msgs []struct {
			Channel string
			Data    json.RawMessage
		}
		_ = json.Unmarshal([]byte(body), &msgs)
		for _, m := range msgs {
			if m.Channel != "/data/AccountChangeEvent" || len(m.Data) == 0 {
				continue
			}
			var d struct{ Event struct{ ReplayID *int64 } }
			if json.Unmarshal(m.Data, &d) == nil && (d.Event.ReplayID == nil || *d.Event.ReplayID <= 0) {
				t.Fatalf("%q: an event without a replay id, and no error", body)
			}
		}
	})
}

// The fuzzer found a change event without a replay id skipped as one
// taken before.
func TestCDCEventWithoutReplayIDFails(t *testing.T) {
	poll := fuzzCDC(t)
	_, err := poll(t, `[{"channel":"/meta/connect","successful":true},{"channel":"/data/AccountChangeEvent","data":{"payload":{"ChangeEventHeader":{"changeType":"UPDATE","recordIds":["001B"]}}}}]`)
	if fault.CodeOf(err) != fault.ConnectorServer {
		t.Errorf("err = %v, want a ConnectorServer fault", err)
	}
}

type failCometd struct{ next http.RoundTripper }

func (f failCometd) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/cometd/") {
		return nil, io.ErrUnexpectedEOF
	}
	return f.next.RoundTrip(r)
}

// A Bayeux request that fails in transport is a ConnectorServer fault, not
// an unclassified (internal) error.
func TestCDCTransportFailureIsClassified(t *testing.T) {
	org := sftest.NewOrg(t)
	org.AddObject("Account", sftest.F("Name", "string"))
	es := NewEventSource(connector.Deps{HTTPClient: &http.Client{Transport: failCometd{org.Client().Transport}}}, func(ctx context.Context, account, name string) (connector.Profile, error) {
		props, _ := json.Marshal(map[string]string{"instanceUrl": org.URL()})
		creds, _ := json.Marshal(map[string]string{"accessToken": sftest.AccessToken})
		return connector.Profile{Name: name, Properties: props, Credentials: creds}, nil
	})
	es.Opts = Options{ClientID: sftest.ClientID, ClientSecret: sftest.ClientSecret}
	props, _ := json.Marshal(map[string]any{"object": "Account"})
	_, err := es.Poll(context.Background(), connector.EventFlow{ConnectorType: Type, ProfileName: "sf", Properties: props}, json.RawMessage(`{"replayId":5}`), 10)
	if fault.CodeOf(err) != fault.ConnectorServer {
		t.Errorf("err = %v, want a ConnectorServer fault", err)
	}
}
