package googleanalyticsconn_test

// End-to-end: the whole server (internal/app behind httptest) driven by
// the real AWS SDK AppFlow client, reading the documented-API stand-in
// (gatest: Google's token endpoint, Management, Metadata and Reporting
// APIs) into a local bucket, with a flow as AppFlow accepts it for Google
// Analytics: a PROJECTION, a BETWEEN on ga:date and no Map task.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"

	"github.com/appflowd/appflowd/internal/app"
	"github.com/appflowd/appflowd/internal/apptest"
	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/googleanalyticsconn"
	"github.com/appflowd/appflowd/internal/connector/googleanalyticsconn/gatest"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func profile(name, code string) *appflow.CreateConnectorProfileInput {
	return &appflow.CreateConnectorProfileInput{
		ConnectorProfileName: aws.String(name), ConnectorType: types.ConnectorTypeGoogleanalytics, ConnectionMode: types.ConnectionModePublic,
		ConnectorProfileConfig: &types.ConnectorProfileConfig{
			ConnectorProfileProperties: &types.ConnectorProfileProperties{GoogleAnalytics: &types.GoogleAnalyticsConnectorProfileProperties{}},
			ConnectorProfileCredentials: &types.ConnectorProfileCredentials{GoogleAnalytics: &types.GoogleAnalyticsConnectorProfileCredentials{
				ClientId: aws.String(gatest.ClientID), ClientSecret: aws.String(gatest.ClientSecret),
				OAuthRequest: &types.ConnectorOAuthRequest{AuthCode: aws.String(code), RedirectUri: aws.String(gatest.RedirectURI)}}},
		}}
}

func op(o types.GoogleAnalyticsConnectorOperator) *types.ConnectorOperator {
	return &types.ConnectorOperator{GoogleAnalytics: o}
}

// flow is a Google Analytics flow as AppFlow takes it: a PROJECTION and a
// BETWEEN on the date, no Map task.
func flow(name string, trigger *types.TriggerConfig, from, to time.Time) *appflow.CreateFlowInput {
	tasks := []types.Task{{TaskType: types.TaskTypeFilter, ConnectorOperator: op(types.GoogleAnalyticsConnectorOperatorProjection),
		SourceFields: []string{googleanalyticsconn.DateField, "ga:country|DIMENSION", "ga:sessions|METRIC"}}}
	if !from.IsZero() {
		tasks = append(tasks, types.Task{TaskType: types.TaskTypeFilter, ConnectorOperator: op(types.GoogleAnalyticsConnectorOperatorBetween),
			SourceFields: []string{googleanalyticsconn.DateField}, TaskProperties: map[string]string{"DATA_TYPE": "date",
				"LOWER_BOUND": fmt.Sprint(from.UnixMilli()), "UPPER_BOUND": fmt.Sprint(to.UnixMilli())}})
	}
	return apptest.LakeFlow(name, trigger, &types.SourceFlowConfig{ConnectorType: types.ConnectorTypeGoogleanalytics, ConnectorProfileName: aws.String("ga"),
		SourceConnectorProperties: &types.SourceConnectorProperties{GoogleAnalytics: &types.GoogleAnalyticsSourceProperties{Object: aws.String(gatest.View)}}}, tasks)
}

// lines reads the JSON Lines a run wrote, sorted.
func lines(t *testing.T, dir, flow, id string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "s3", "lake", flow, flow, id)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("output of %s: %v", id, err)
	}
	sort.Strings(out)
	return out
}

func mustSucceed(t *testing.T, r types.ExecutionRecord) {
	t.Helper()
	if r.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s (%s)", aws.ToString(r.ExecutionId), r.ExecutionStatus, apptest.Message(r))
	}
}

func start(t *testing.T, s *gatest.Server, clk *clock, plan time.Duration) *apptest.Server {
	srv := apptest.Start(t, app.Config{Now: clk.Now, PlanInterval: plan, Endpoints: connector.Endpoints{
		connector.EndpointGoogleAnalytics: s.URL(), connector.EndpointGoogleOAuth: s.URL()}}, "lake")
	var ae *types.ConnectorAuthenticationException
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("bad", "4/stale")); !errors.As(err, &ae) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("stale code: %v, want ConnectorAuthenticationException with Google's invalid_grant", err)
	}
	if _, err := srv.Client.CreateConnectorProfile(context.Background(), profile("ga", gatest.AuthCode)); err != nil {
		t.Fatalf("CreateConnectorProfile: %v", err)
	}
	return srv
}

func TestE2EOnDemand(t *testing.T) {
	ctx := context.Background()
	s := gatest.New(t)
	// 10,002 countries on Jan 1 (two pages of 10,000), one on Jan 2, one
	// outside the range.
	var many []gatest.Row
	for i := range 10002 {
		many = append(many, gatest.Row{"ga:country": fmt.Sprintf("C%05d", i), "ga:sessions": 1})
	}
	s.Add(gatest.View, "2024-01-01", many...)
	s.Add(gatest.View, "2024-01-02", gatest.Row{"ga:country": "DE", "ga:sessions": 7})
	s.Add(gatest.View, "2024-01-03", gatest.Row{"ga:country": "FR", "ga:sessions": 2})
	srv := start(t, s, &clock{t: base.Add(10 * 24 * time.Hour)}, 0)
	c := srv.Client

	ents, err := c.ListConnectorEntities(ctx, &appflow.ListConnectorEntitiesInput{ConnectorProfileName: aws.String("ga"), EntitiesPath: aws.String("1001/UA-1001-1")})
	if err != nil || len(ents.ConnectorEntityMap["Views"]) != 2 || aws.ToString(ents.ConnectorEntityMap["Views"][0].Name) != gatest.View {
		t.Fatalf("views %+v, %v", ents.ConnectorEntityMap, err)
	}
	desc, err := c.DescribeConnectorEntity(ctx, &appflow.DescribeConnectorEntityInput{ConnectorProfileName: aws.String("ga"), ConnectorEntityName: aws.String(gatest.View)})
	if err != nil || len(desc.ConnectorEntityFields) != 4 {
		t.Fatalf("describe: %+v, %v", desc, err)
	}

	if _, err := c.CreateFlow(ctx, flow("report", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, base, base.Add(24*time.Hour))); err != nil {
		t.Fatalf("CreateFlow (PROJECTION and BETWEEN, no Map task): %v", err)
	}
	s.Expire()         // the first report call is refused: the token is refreshed
	s.Throttle(1, "1") // and the next throttled
	r := srv.RunFlow(t, "report", 120*time.Second)
	mustSucceed(t, r)
	got := lines(t, srv.DataDir, "report", aws.ToString(r.ExecutionId))
	if len(got) != 10003 {
		t.Fatalf("%d records, want 10,003", len(got))
	}
	if got[0] != `{"dimensions":["20240101","C00000"],"metrics":[{"values":["1"]}]}` || got[10002] != `{"dimensions":["20240102","DE"],"metrics":[{"values":["7"]}]}` {
		t.Errorf("records %s ... %s, want batchGet's rows as received", got[0], got[10002])
	}
	if g := s.Grants(); !slices.Equal(g, []string{"authorization_code", "authorization_code", "refresh_token"}) {
		t.Errorf("token grants %v, want the two profile codes then one refresh", g)
	}
	var pages int
	for _, b := range s.Batches() {
		if strings.Contains(b, `"viewId":"2002"`) {
			pages++
		}
	}
	if pages != 3 { // throttled (429), then two pages; the 401 is refused before its body is read
		t.Errorf("%d batchGet calls, want 3", pages)
	}

	// Operators the model does not list for Google Analytics are refused.
	in := flow("eq", &types.TriggerConfig{TriggerType: types.TriggerTypeOndemand}, time.Time{}, time.Time{})
	in.Tasks = append(in.Tasks, types.Task{TaskType: types.TaskTypeFilter, ConnectorOperator: &types.ConnectorOperator{GoogleAnalytics: "EQUAL_TO"},
		SourceFields: []string{"ga:country|DIMENSION"}, TaskProperties: map[string]string{"VALUE": "DE"}})
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, in); !errors.As(err, &ve) {
		t.Errorf("EQUAL_TO on Google Analytics: %v, want ValidationException", err)
	}
}

func TestE2EScheduled(t *testing.T) {
	ctx := context.Background()
	s := gatest.New(t)
	s.Add(gatest.View, "2024-01-01", gatest.Row{"ga:country": "US", "ga:sessions": 3})
	s.Add(gatest.View, "2024-01-02", gatest.Row{"ga:country": "DE", "ga:sessions": 7})
	s.Add(gatest.View, "2024-01-03", gatest.Row{"ga:country": "FR", "ga:sessions": 2})
	clk := &clock{t: base.Add(48*time.Hour - time.Hour)}
	srv := start(t, s, clk, -1)
	c := srv.Client
	trigger := func(expr string) *types.TriggerConfig {
		return &types.TriggerConfig{TriggerType: types.TriggerTypeScheduled, TriggerProperties: &types.TriggerProperties{
			Scheduled: &types.ScheduledTriggerProperties{ScheduleExpression: aws.String(expr), DataPullMode: types.DataPullModeIncremental,
				FirstExecutionFrom: aws.Time(base), ScheduleOffset: aws.Int64(0)}}}
	}
	in := flow("daily", trigger("rate(12hours)"), time.Time{}, time.Time{})
	in.SourceFlowConfig.IncrementalPullConfig = &types.IncrementalPullConfig{DatetimeTypeFieldName: aws.String(googleanalyticsconn.DateField)}
	var ve *types.ValidationException
	if _, err := c.CreateFlow(ctx, in); !errors.As(err, &ve) {
		t.Errorf("a 12-hour Google Analytics schedule: %v, want ValidationException (AppFlow's floor is a day)", err)
	}
	in.TriggerConfig = trigger("rate(1days)")
	if _, err := c.CreateFlow(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartFlow(ctx, &appflow.StartFlowInput{FlowName: aws.String("daily")}); err != nil {
		t.Fatal(err)
	}
	srv.Tick(t)
	runs := apptest.Finished(t, c, "daily", 1)
	mustSucceed(t, runs[0])
	if got := lines(t, srv.DataDir, "daily", aws.ToString(runs[0].ExecutionId)); strings.Join(got, "|") !=
		`{"dimensions":["20240101","US"],"metrics":[{"values":["3"]}]}|{"dimensions":["20240102","DE"],"metrics":[{"values":["7"]}]}` {
		t.Errorf("first window [Jan 1, Jan 2 23:00) read %q, want Jan 1 and 2", got)
	}
	clk.Set(base.Add(72*time.Hour + time.Hour))
	srv.Tick(t)
	runs = apptest.Finished(t, c, "daily", 2)
	mustSucceed(t, runs[1])
	if got := lines(t, srv.DataDir, "daily", aws.ToString(runs[1].ExecutionId)); strings.Join(got, "|") != `{"dimensions":["20240103","FR"],"metrics":[{"values":["2"]}]}` {
		t.Errorf("second window [Jan 2 23:00, Jan 4 01:00) read %q, want Jan 3 alone", got)
	}
}
