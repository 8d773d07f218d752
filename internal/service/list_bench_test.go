package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/appflowd/appflowd/internal/restjson"
	"github.com/appflowd/appflowd/internal/wire"
)

// benchEnv has 20 tagged flows with three finished runs each, on SQLite.
func benchEnv(b *testing.B) *flowEnv {
	env := newFlowEnv(&testing.T{}, false)
	ctx := context.Background()
	for i := range 20 {
		in := flowS3(fmt.Sprintf("f%02d", i), wire.TriggerTypeOnDemand)
		in.Tags = map[string]string{"team": "data"}
		if _, err := env.svc.CreateFlow(ctx, in); err != nil {
			b.Fatal(err)
		}
		for range 3 {
			if _, err := env.svc.StartFlow(ctx, &wire.StartFlowRequest{FlowName: in.FlowName}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return env
}

// BenchmarkListFlows lists a page of 20 tagged flows with runs, in process
// on SQLite: the cost of ListFlows without HTTP.
func BenchmarkListFlows(b *testing.B) {
	env := benchEnv(b)
	ctx := context.Background()
	max := int32(100)
	for b.Loop() {
		out, err := env.svc.ListFlows(ctx, &wire.ListFlowsRequest{MaxResults: &max})
		if err != nil || len(out.Flows) != 20 || out.Flows[0].LastRunExecutionDetails == nil || out.Flows[0].Tags["team"] != "data" {
			b.Fatalf("ListFlows: %v, %d flows", err, len(out.Flows))
		}
	}
}

// BenchmarkDescribeFlow describes a tagged flow with runs, in process.
func BenchmarkDescribeFlow(b *testing.B) {
	env := benchEnv(b)
	ctx := context.Background()
	for b.Loop() {
		out, err := env.svc.DescribeFlow(ctx, &wire.DescribeFlowRequest{FlowName: "f07"})
		if err != nil || out.LastRunExecutionDetails == nil || out.Tags["team"] != "data" {
			b.Fatalf("DescribeFlow: %v", err)
		}
	}
}

// BenchmarkHandler serves DescribeFlow and ListFlows (20 flows a page)
// through the API's HTTP handler, without a network: what a request costs
// the server.
func BenchmarkHandler(b *testing.B) {
	env := benchEnv(b)
	h := restjson.NewHandler(env.svc, restjson.Options{Logger: slog.New(slog.DiscardHandler), DefaultAccountID: flowTestAccount})
	for _, c := range []struct{ name, path, body, want string }{
		{"DescribeFlow", "/describe-flow", `{"flowName":"f07"}`, `"flowName":"f07"`},
		{"ListFlows", "/list-flows", `{"maxResults":100}`, `"flowName":"f19"`},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body)))
				if body, _ := io.ReadAll(w.Body); w.Code != http.StatusOK || !strings.Contains(string(body), c.want) {
					b.Fatalf("%s: %d %s", c.name, w.Code, body)
				}
			}
		})
	}
}
