package console_test

import (
	"bytes"
	"context"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appflow"
	"github.com/aws/aws-sdk-go-v2/service/appflow/types"
)

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q in:\n%s", what, w, body)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("%s: unexpected %q in:\n%s", what, b, body)
		}
	}
}

// TestFlowsListFiltersAndLinks: the list names each flow with its status,
// trigger, ends and last run, filters by status, connector and name, and
// links each name to its page.
func TestFlowsListFiltersAndLinks(t *testing.T) {
	s := start(t, false)
	createS3Flow(t, s.Client, "orders", "dst")
	createScheduledFlow(t, s.Client, "nightly")
	v := newVisitor(t, s.URL)

	r := v.get("/console/")
	if r.status != http.StatusOK {
		t.Fatalf("GET /console/: %d\n%s", r.status, r.body)
	}
	mustContain(t, "list", r.body,
		`<a href="/console/flows/orders">orders</a>`, `<a href="/console/flows/nightly">nightly</a>`,
		"On demand", "Schedule rate(1days)", "S3 → S3", "Never run", "2 of 2 flows",
		`href="/metrics"`, `href="/health"`, `<label for="f-status">Status</label>`, `<label for="f-connector">Connector</label>`)

	for _, c := range []struct {
		query    string
		in, out  []string
		countMsg string
	}{
		{"?status=Active", []string{"orders"}, []string{"nightly"}, "1 of 2 flows"},
		{"?status=Draft", []string{"nightly"}, []string{"orders"}, "1 of 2 flows"},
		{"?connector=S3", []string{"orders", "nightly"}, nil, "2 of 2 flows"},
		{"?connector=Salesforce", nil, []string{"orders", "nightly"}, "0 of 2 flows"},
		{"?name=NIGHT", []string{"nightly"}, []string{"orders"}, "1 of 2 flows"},
	} {
		r := v.get("/console/" + c.query)
		for _, n := range c.in {
			mustContain(t, c.query, r.body, `<a href="/console/flows/`+n+`">`)
		}
		for _, n := range c.out {
			mustNotContain(t, c.query, r.body, `<a href="/console/flows/`+n+`">`)
		}
		mustContain(t, c.query, r.body, c.countMsg)
	}

	// A name that needs escaping in a path still links to its page.
	createS3Flow(t, s.Client, "a#b@c", "dst")
	r = v.get("/console/")
	mustContain(t, "escaped link", r.body, `href="/console/flows/a%23b@c"`)
	if r := v.get("/console/flows/a%23b@c"); r.status != http.StatusOK || !strings.Contains(r.body, "Flow a#b@c") {
		t.Errorf("flow page of a#b@c: %d", r.status)
	}
	if r := v.get("/console/flows/nope"); r.status != http.StatusNotFound || !strings.Contains(r.body, "nope") {
		t.Errorf("missing flow: status %d, want 404 with the API's message:\n%s", r.status, r.body)
	}
}

// TestRunNowThroughTheForm: "Run now" posts StartFlow (only with the page's
// CSRF token), the run shows on the flow page and its own page with its
// counts; the list shows the last run.
func TestRunNowThroughTheForm(t *testing.T) {
	s := start(t, false)
	createS3Flow(t, s.Client, "orders", "dst")
	v := newVisitor(t, s.URL)

	page := v.get("/console/flows/orders")
	mustContain(t, "flow page", page.body, ">Run now</button>", "PROJECTION", "order_id", "<th scope=\"col\">Task type</th>",
		"bucketName", "src", "Complete (no incremental pull configured)", "This flow has not run yet.")
	mustNotContain(t, "on-demand flow page", page.body, ">Activate</button>", ">Deactivate</button>")

	// Without the token (a cross-site post) nothing starts.
	if r := v.post("/console/flows/orders/start", nil); r.status != http.StatusForbidden {
		t.Fatalf("post without CSRF token: %d, want 403", r.status)
	}
	if r := v.post("/console/flows/orders/start", url.Values{"csrf": {"forged"}}); r.status != http.StatusForbidden {
		t.Fatalf("post with a forged CSRF token: %d, want 403", r.status)
	}
	if run := latestRun(t, s.Client, "orders"); run != nil {
		t.Fatalf("a post without a valid token started run %s", aws.ToString(run.ExecutionId))
	}

	r := v.post("/console/flows/orders/start", url.Values{"csrf": {v.csrf("/console/flows/orders")}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/console/flows/orders?started=") {
		t.Fatalf("Run now: %d to %q, want 303 to the flow page", r.status, r.location)
	}
	id := strings.TrimPrefix(r.location, "/console/flows/orders?started=")
	rec := waitRun(t, s.Client, "orders", id)
	if rec.ExecutionStatus != types.ExecutionStatusSuccessful {
		t.Fatalf("run %s: %s", id, rec.ExecutionStatus)
	}
	records := aws.ToInt64(rec.ExecutionResult.RecordsProcessed)
	if records != 3 {
		t.Fatalf("records processed %d, want 3", records)
	}

	page = v.get(r.location)
	mustContain(t, "flow page after the run", page.body, "Run "+id+" started.",
		`<a href="/console/flows/orders/runs/`+id+`">`+id+`</a>`, `s-Successful">Successful</span>`,
		`<td class="num" data-label="Records">3</td>`, "Records per run", "<rect ")
	mustNotContain(t, "finished flow page", page.body, "data-live>", "data-live ")

	if p := v.get("/console/flows/orders?started=Your+password+expired"); strings.Contains(p.body, "password") {
		t.Error("a link put its own words in the flow page's notice")
	}
	if p := v.get("/console/?deleted=Call+us+at+555"); strings.Contains(p.body, "Call us") {
		t.Error("a link put its own words in the list's notice")
	}
	run := v.get("/console/flows/orders/runs/" + id)
	mustContain(t, "run page", run.body, "Run "+id, "<dt>Records processed</dt><dd>3</dd>", "Successful", "<dt>Bytes read</dt>")

	list := v.get("/console/")
	mustContain(t, "list after the run", list.body, `s-Successful">Successful</span>`)
	if r := v.get("/console/flows/orders/runs/no-such-run"); r.status != http.StatusNotFound {
		t.Errorf("unknown run: %d, want 404", r.status)
	}
}

// TestFailedRunShowsItsCause: a run that fails shows the run's message on
// the flow page and the run page.
func TestFailedRunShowsItsCause(t *testing.T) {
	s := start(t, false)
	createBrokenFlow(t, s, s.Client, "broken")
	v := newVisitor(t, s.URL)
	r := v.post("/console/flows/broken/start", url.Values{"csrf": {v.csrf("/console/flows/broken")}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("Run now: %d", r.status)
	}
	id := strings.TrimPrefix(r.location, "/console/flows/broken?started=")
	rec := waitRun(t, s.Client, "broken", id)
	msg := aws.ToString(rec.ExecutionResult.ErrorInfo.ExecutionMessage)
	if rec.ExecutionStatus != types.ExecutionStatusError || !strings.Contains(msg, "gone-broken does not exist") {
		t.Fatalf("run: %s %q, want Error naming the missing bucket", rec.ExecutionStatus, msg)
	}
	mustContain(t, "flow page", v.get("/console/flows/broken").body, `s-Error">Error</span>`, html.EscapeString(msg))
	mustContain(t, "run page", v.get("/console/flows/broken/runs/"+id).body, `id="run-message">`+html.EscapeString(msg))
}

// TestActivateDeactivateAndCancel: scheduled flows get Activate and
// Deactivate, not Run now; a run in progress gets Cancel and a live page.
func TestActivateDeactivateAndCancel(t *testing.T) {
	s := start(t, false)
	createScheduledFlow(t, s.Client, "nightly")
	createCustomFlow(t, s.Client, "accounts")
	v := newVisitor(t, s.URL)
	ctx := context.Background()

	page := v.get("/console/flows/nightly")
	mustContain(t, "draft scheduled flow", page.body, ">Activate</button>", "<code>rate(1days)</code>", "Schedule rate(1days)")
	mustNotContain(t, "draft scheduled flow", page.body, ">Run now</button>", ">Deactivate</button>")
	if r := v.post("/console/flows/nightly/start", url.Values{"csrf": {v.csrf("/console/flows/nightly")}}); r.status != http.StatusSeeOther {
		t.Fatalf("Activate: %d\n%s", r.status, r.body)
	}
	f, err := s.Client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("nightly")})
	if err != nil || f.FlowStatus != types.FlowStatusActive {
		t.Fatalf("after Activate: %v %v, want Active", f.FlowStatus, err)
	}
	page = v.get("/console/flows/nightly?done=activated")
	mustContain(t, "active scheduled flow", page.body, "Flow activated.", ">Deactivate</button>")
	if r := v.post("/console/flows/nightly/stop", url.Values{"csrf": {v.csrf("/console/flows/nightly")}}); r.status != http.StatusSeeOther {
		t.Fatalf("Deactivate: %d\n%s", r.status, r.body)
	}
	if f, _ := s.Client.DescribeFlow(ctx, &appflow.DescribeFlowInput{FlowName: aws.String("nightly")}); f.FlowStatus != types.FlowStatusSuspended {
		t.Fatalf("after Deactivate: %v, want Suspended", f.FlowStatus)
	}
	// Deactivating again is refused with the API's message, shown on the page.
	r := v.post("/console/flows/nightly/stop", url.Values{"csrf": {v.csrf("/console/flows/nightly")}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "is not active") {
		t.Errorf("second Deactivate: %d, want 409 with the API's message:\n%s", r.status, r.body)
	}

	release := s.gate.close()
	defer release()
	r = v.post("/console/flows/accounts/start", url.Values{"csrf": {v.csrf("/console/flows/accounts")}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("Run now: %d\n%s", r.status, r.body)
	}
	id := strings.TrimPrefix(r.location, "/console/flows/accounts?started=")
	s.gate.waitReached(t) // the run is reading, and waits
	page = v.get("/console/flows/accounts")
	mustContain(t, "flow page with a run in progress", page.body, `s-InProgress">InProgress</span>`, "data-live",
		">Cancel</button>", `name="execution_id" value="`+id+`"`, "this page updates by itself")
	run := v.get("/console/flows/accounts/runs/" + id)
	mustContain(t, "run page in progress", run.body, "data-live", ">Cancel</button>")

	if r := v.post("/console/flows/accounts/cancel", url.Values{"csrf": {v.csrf("/console/flows/accounts")}, "execution_id": {id}}); r.status != http.StatusSeeOther {
		t.Fatalf("Cancel: %d\n%s", r.status, r.body)
	}
	release()
	rec := waitRun(t, s.Client, "accounts", id)
	if rec.ExecutionStatus != types.ExecutionStatusCanceled {
		t.Fatalf("canceled run: %s", rec.ExecutionStatus)
	}
	mustContain(t, "flow page after cancel", v.get("/console/flows/accounts").body, `s-Canceled">Canceled</span>`)
	// Canceling a finished run is refused with a message.
	r = v.post("/console/flows/accounts/cancel", url.Values{"csrf": {v.csrf("/console/flows/accounts")}, "execution_id": {id}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "cannot be canceled") {
		t.Errorf("cancel of a finished run: %d:\n%s", r.status, r.body)
	}
}

// TestCreateEditDelete: the create form takes CreateFlow JSON and shows the
// API's own validation message beside it; edit takes UpdateFlow JSON;
// delete asks first.
func TestCreateEditDelete(t *testing.T) {
	s := start(t, false)
	v := newVisitor(t, s.URL)
	form := v.get("/console/new")
	mustContain(t, "create form", form.body, `<label for="definition">`, `<label for="file">`, "&#34;flowName&#34;", ">Create flow</button>")
	token := v.csrf("/console/new")

	for _, body := range []string{
		`{"flowName": "x"`,
		`{"flowName": "x", "tasks": [], "destinationFlowConfigList": []}`,
		`{"flowName": 7}`,
	} {
		r := v.post("/console/new", url.Values{"csrf": {token}, "definition": {body}})
		want := apiMessage(t, s.URL, "/create-flow", body)
		if r.status != http.StatusBadRequest {
			t.Errorf("create %s: status %d, want 400", body, r.status)
		}
		m := regexp.MustCompile(`id="definition-error"><strong>Error:</strong> (.*?)</p>`).FindStringSubmatch(r.body)
		if m == nil || html.UnescapeString(m[1]) != want {
			t.Errorf("create %s: message beside the form %q, want the API's %q", body, m, want)
		}
		mustContain(t, "create "+body, r.body, `aria-invalid="true"`, html.EscapeString(body))
	}
	if r := v.post("/console/new", url.Values{"csrf": {token}, "definition": {"  "}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "The flow definition is empty") {
		t.Errorf("empty definition: %d", r.status)
	}

	def := `{"flowName": "made-here", "description": "from the console",
	  "triggerConfig": {"triggerType": "OnDemand"},
	  "sourceFlowConfig": {"connectorType": "S3", "sourceConnectorProperties": {"S3": {"bucketName": "src", "bucketPrefix": "in"}}},
	  "destinationFlowConfigList": [{"connectorType": "S3", "destinationConnectorProperties": {"S3": {"bucketName": "dst"}}}],
	  "tasks": [{"taskType": "Map_all", "sourceFields": [], "connectorOperator": {"S3": "NO_OP"}}]}`
	r := v.post("/console/new", url.Values{"csrf": {token}, "definition": {def}})
	if r.status != http.StatusSeeOther || r.location != "/console/flows/made-here" {
		t.Fatalf("create: %d to %q\n%s", r.status, r.location, r.body)
	}
	if _, err := s.Client.DescribeFlow(context.Background(), &appflow.DescribeFlowInput{FlowName: aws.String("made-here")}); err != nil {
		t.Fatalf("the created flow: %v", err)
	}
	// The same again: the API's conflict message.
	r = v.post("/console/new", url.Values{"csrf": {token}, "definition": {def}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "made-here") {
		t.Errorf("create twice: %d\n%s", r.status, r.body)
	}

	edit := v.get("/console/flows/made-here/edit")
	mustContain(t, "edit form", edit.body, "&#34;flowName&#34;: &#34;made-here&#34;", "from the console", ">Save flow</button>")
	m := regexp.MustCompile(`(?s)<textarea[^>]*>(.*)</textarea>`).FindStringSubmatch(edit.body)
	if m == nil {
		t.Fatal("no textarea on the edit page")
	}
	updated := strings.Replace(html.UnescapeString(m[1]), "from the console", "edited in the console", 1)
	r = v.post("/console/flows/made-here/edit", url.Values{"csrf": {token}, "definition": {updated}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", r.status, r.body)
	}
	f, _ := s.Client.DescribeFlow(context.Background(), &appflow.DescribeFlowInput{FlowName: aws.String("made-here")})
	if aws.ToString(f.Description) != "edited in the console" {
		t.Errorf("description after edit: %q", aws.ToString(f.Description))
	}
	renamed := strings.Replace(updated, `"flowName": "made-here"`, `"flowName": "other"`, 1)
	if r := v.post("/console/flows/made-here/edit", url.Values{"csrf": {token}, "definition": {renamed}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "is not this flow") {
		t.Errorf("edit with another flowName: %d", r.status)
	}

	confirm := v.get("/console/flows/made-here/delete")
	mustContain(t, "delete confirmation", confirm.body, "Delete flow made-here?", ">Delete</button>", "Keep the flow")
	if _, err := s.Client.DescribeFlow(context.Background(), &appflow.DescribeFlowInput{FlowName: aws.String("made-here")}); err != nil {
		t.Fatalf("the confirmation page deleted the flow: %v", err)
	}
	r = v.post("/console/flows/made-here/delete", url.Values{"csrf": {token}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", r.status, r.body)
	}
	if _, err := s.Client.DescribeFlow(context.Background(), &appflow.DescribeFlowInput{FlowName: aws.String("made-here")}); err == nil {
		t.Fatal("the flow is still there after Delete")
	}
	mustContain(t, "list after delete", v.get(r.location).body, "Flow made-here was deleted.")
}

// TestProfilesConnectorsAndHealth: profiles without credentials,
// connectors built in and registered with their capabilities, /health.
func TestProfilesConnectorsAndHealth(t *testing.T) {
	s := start(t, false)
	createCustomFlow(t, s.Client, "accounts")
	v := newVisitor(t, s.URL)
	p := v.get("/console/profiles")
	mustContain(t, "profiles", p.body, "example-profile", `data-label="Connector">example</td>`, "Public", "profileProperties.region")
	mustNotContain(t, "profiles", p.body, "demo-password")

	c := v.get("/console/connectors")
	mustContain(t, "connectors", c.body, "Registered custom connectors", "the example connector", `data-label="Connector"><div>S3<br>`,
		`data-label="Connector"><div>Salesforce<br>`, "OnDemand")
	if strings.Count(c.body, `data-label="Source">Yes</td>`) < 3 {
		t.Errorf("connectors: capabilities missing:\n%s", c.body)
	}

	h := v.get("/health")
	if h.status != http.StatusOK || !strings.Contains(h.body, `{"status":"ok","store":"sqlite"}`) {
		t.Errorf("/health: %d %s", h.status, h.body)
	}
	if m := v.get("/metrics"); m.status != http.StatusOK || !strings.Contains(m.body, "appflowd_api_requests_total") {
		t.Errorf("/metrics from the footer: %d", m.status)
	}
	if r := v.get("/console/nowhere"); r.status != http.StatusNotFound {
		t.Errorf("unknown console page: %d", r.status)
	}
	if r := v.get("/console"); r.status != http.StatusMovedPermanently || r.location != "/console/" {
		t.Errorf("/console: %d %q", r.status, r.location)
	}
	// The API is untouched beside the console.
	if _, err := s.Client.ListFlows(context.Background(), &appflow.ListFlowsInput{}); err != nil {
		t.Errorf("ListFlows beside the console: %v", err)
	}
	if r := v.get("/console/static/console.js"); r.status != http.StatusOK || !strings.Contains(r.body, "data-live") {
		t.Errorf("console.js: %d", r.status)
	}
}

// TestSignInAndAccounts: with --credentials the console asks for a key
// pair, refuses a wrong secret, sets a strict expiring session cookie,
// shows only that key's account, and signs out.
func TestSignInAndAccounts(t *testing.T) {
	s := start(t, true)
	createS3Flow(t, s.client(keyA, secretA), "alice-flow", "dst")
	createS3Flow(t, s.client(keyB, secretB), "bob-flow", "dst")
	v := newVisitor(t, s.URL)

	r := v.get("/console/flows/alice-flow")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/console/signin?next=") {
		t.Fatalf("signed out: %d to %q, want the sign-in page", r.status, r.location)
	}
	form := v.get("/console/signin")
	mustContain(t, "sign-in form", form.body, `<label for="access_key_id">Access key ID</label>`,
		`<label for="secret_access_key">Secret access key</label>`, `type="password"`, ">Sign in</button>")
	token := csrfRE.FindStringSubmatch(form.body)[1]

	r = v.post("/console/signin", url.Values{"csrf": {token}, "access_key_id": {keyA}, "secret_access_key": {secretB}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Sign-in refused") || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("wrong secret: %d, cookie %q:\n%s", r.status, r.header.Get("Set-Cookie"), r.body)
	}
	if r := v.post("/console/signin", url.Values{"access_key_id": {keyA}, "secret_access_key": {secretA}}); r.status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", r.status)
	}

	r = v.post("/console/signin", url.Values{"csrf": {token}, "access_key_id": {keyA}, "secret_access_key": {secretA},
		"next": {"/console/flows/alice-flow"}})
	if r.status != http.StatusSeeOther || r.location != "/console/flows/alice-flow" {
		t.Fatalf("sign-in: %d to %q", r.status, r.location)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Expires=", "Max-Age=", "Path=/console/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q: no %s", cookie, want)
		}
	}
	list := v.get("/console/")
	mustContain(t, "alice's list", list.body, "alice-flow", "Signed in as <strong>"+keyA+"</strong>, account "+accountA, ">Sign out</button>")
	mustNotContain(t, "alice's list", list.body, "bob-flow")
	if r := v.get("/console/flows/bob-flow"); r.status != http.StatusNotFound {
		t.Errorf("alice opening bob's flow: %d, want 404", r.status)
	}
	if r := v.post("/console/flows/bob-flow/start", url.Values{"csrf": {v.csrf("/console/")}}); r.status == http.StatusSeeOther {
		t.Errorf("alice started bob's flow")
	}
	if run := latestRun(t, s.client(keyB, secretB), "bob-flow"); run != nil {
		t.Errorf("bob's flow ran: %s", aws.ToString(run.ExecutionId))
	}
	// Another person's token is not this session's.
	other := newVisitor(t, s.URL)
	tok := csrfRE.FindStringSubmatch(other.get("/console/signin").body)[1]
	other.post("/console/signin", url.Values{"csrf": {tok}, "access_key_id": {keyB}, "secret_access_key": {secretB}})
	mustContain(t, "bob's list", other.get("/console/").body, "bob-flow")
	if r := v.post("/console/flows/alice-flow/start", url.Values{"csrf": {other.csrf("/console/")}}); r.status != http.StatusForbidden {
		t.Errorf("post with another session's token: %d, want 403", r.status)
	}

	// Sign out ends the session on the server, not only in the browser.
	old := v.c.Jar.Cookies(mustURL(t, s.URL+"/console/"))
	r = v.post("/console/signout", url.Values{"csrf": {v.csrf("/console/")}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d, cookie %q", r.status, r.header.Get("Set-Cookie"))
	}
	replay := newVisitor(t, s.URL)
	replay.c.Jar.SetCookies(mustURL(t, s.URL+"/console/"), old)
	if r := replay.get("/console/"); r.status != http.StatusSeeOther {
		t.Errorf("the signed-out session still works: %d", r.status)
	}
	// A redirect after sign-in stays inside the console.
	tok = csrfRE.FindStringSubmatch(replay.get("/console/signin").body)[1]
	r = replay.post("/console/signin", url.Values{"csrf": {tok}, "access_key_id": {keyA}, "secret_access_key": {secretA}, "next": {"//evil.example/"}})
	if r.location != "/console/" {
		t.Errorf("next=//evil.example/: redirected to %q", r.location)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestCreateFromUploadedCLIFile: a file written for
// `aws appflow create-flow --cli-input-json` creates the flow when uploaded.
func TestCreateFromUploadedCLIFile(t *testing.T) {
	s := start(t, false)
	v := newVisitor(t, s.URL)
	file := `{
    "flowName": "from-cli-file",
    "description": "",
    "triggerConfig": {"triggerType": "OnDemand"},
    "sourceFlowConfig": {"connectorType": "S3", "sourceConnectorProperties": {"S3": {"bucketName": "src", "bucketPrefix": "in",
        "s3InputFormatConfig": {"s3InputFileType": "CSV"}}}},
    "destinationFlowConfigList": [{"connectorType": "S3", "destinationConnectorProperties": {"S3": {"bucketName": "dst",
        "s3OutputFormatConfig": {"fileType": "CSV"}}}}],
    "tasks": [{"taskType": "Map_all", "sourceFields": [], "connectorOperator": {"S3": "NO_OP"}, "taskProperties": {}}],
    "tags": {"team": "data"}
}`
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", v.csrf("/console/new"))
	_ = mw.WriteField("definition", "this text is not used when a file is chosen")
	fw, _ := mw.CreateFormFile("file", "flow.json")
	_, _ = fw.Write([]byte(file))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/console/new", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r := v.do(req)
	if r.status != http.StatusSeeOther || r.location != "/console/flows/from-cli-file" {
		t.Fatalf("upload: %d to %q\n%s", r.status, r.location, r.body)
	}
	out, err := s.Client.DescribeFlow(context.Background(), &appflow.DescribeFlowInput{FlowName: aws.String("from-cli-file")})
	if err != nil || out.Tags["team"] != "data" {
		t.Fatalf("the uploaded flow: %v, tags %v", err, out.Tags)
	}
	mustContain(t, "flow page", v.get("/console/flows/from-cli-file").body, "<dt>Tag <code>team</code></dt><dd>data</dd>",
		"<code>arn:aws:appflow:us-east-1:000000000000:flow/from-cli-file</code>")
}
