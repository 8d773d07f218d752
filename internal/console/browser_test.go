package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive the console in headless Chromium (Debian's
// chromium package; .ci/run installs it) as a person would: by labels and
// button texts, waiting on what the page shows, never on time.

// chromiumPath is the browser: $APPFLOWD_CHROMIUM, else /usr/bin/chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("APPFLOWD_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Skipf("browser tests need Chromium at %s (apt-get install -y chromium, or set APPFLOWD_CHROMIUM): %v", p, err)
	}
	return p
}

// browser starts a fresh headless Chromium for the test and returns a tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	// A bound on a hung browser, not a synchronisation: steps wait on the page.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		screenshot(t, ctx, "failed-"+safe(what))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// screenshot saves the whole page as PNG in $APPFLOWD_CONSOLE_SHOTS (or
// the test's temporary folder) and says where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("APPFLOWD_CONSOLE_SHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, safe(t.Name())+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

// button is a button by its exact label; link a link by its exact text;
// field the control a label names.
func button(label string) string { return fmt.Sprintf(`//button[normalize-space()=%q]`, label) }
func link(text string) string    { return fmt.Sprintf(`//a[normalize-space()=%q]`, text) }
func field(label string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space()=%q]/@for]`, label)
}

// until waits for a JavaScript condition on the page.
func until(expr string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second)))
}

func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// eval returns the value of a JavaScript expression on the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// firstRun is a condition on the newest run's row of a flow page.
func firstRun(cond string) string {
	return `(() => { const r = document.querySelector('table.runs tbody tr'); if (!r) return false;
	  const st = r.querySelector('.status').textContent.trim(); const records = r.querySelector('td[data-label=Records]').textContent.trim(); const msg = r.querySelector('.msg').textContent.trim();
	  return ` + cond + `; })()`
}

// summary is the value of a run or flow summary entry, by its term.
func summary(term string) string {
	return fmt.Sprintf(`([...document.querySelectorAll('dl.summary div')].filter(d => d.querySelector('dt').textContent.trim() === %q)
	  .map(d => d.querySelector('dd').textContent.trim())[0])`, term)
}

// TestBrowserFindRunAndWatch: find a flow in the list, press Run now, see
// Successful with the record count; then watch a held run go from
// InProgress to Successful without a reload.
func TestBrowserFindRunAndWatch(t *testing.T) {
	s := start(t, false)
	createS3Flow(t, s.Client, "orders", "dst")
	createS3Flow(t, s.Client, "refunds", "dst")
	createScheduledFlow(t, s.Client, "nightly")
	createCustomFlow(t, s.Client, "accounts")
	ctx := browser(t)

	run(t, ctx, "open the list", chromedp.Navigate(s.URL+"/console/"), chromedp.WaitVisible(link("orders")))
	screenshot(t, ctx, "list")
	run(t, ctx, "filter by name",
		chromedp.SendKeys(field("Name contains"), "ord"),
		chromedp.Click(button("Apply filters")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=name][value=ord]`)),
		until(`document.querySelectorAll('table.flows tbody tr').length === 1`),
		chromedp.Click(link("orders")),
		chromedp.WaitVisible(button("Run now")))
	run(t, ctx, "Run now", chromedp.Click(button("Run now")),
		chromedp.WaitVisible(chromedp.CSS(`p.message.notice`)),
		until(firstRun(`st === 'Successful' && records === '3'`)))
	screenshot(t, ctx, "flow-after-run")
	if bars := eval[int](t, ctx, `document.querySelectorAll('figure.chart rect').length`); bars != 1 {
		t.Errorf("chart bars: %d, want 1", bars)
	}
	run(t, ctx, "run page", chromedp.Click(chromedp.CSS(`table.runs tbody tr th a`)),
		chromedp.WaitVisible(chromedp.CSS(`#run`)),
		until(summary("Records processed")+` === '3'`))
	screenshot(t, ctx, "run")

	// A run held at the source: the page shows it in progress, then its end,
	// while the page itself is never reloaded (the marker survives).
	release := s.gate.close()
	defer release()
	run(t, ctx, "start the held flow", chromedp.Navigate(s.URL+"/console/flows/accounts"), chromedp.WaitVisible(button("Run now")),
		chromedp.Click(button("Run now")),
		chromedp.WaitVisible(chromedp.CSS(`p.message.notice`)),
		until(firstRun(`st === 'InProgress'`)),
		chromedp.WaitVisible(button("Cancel")))
	s.gate.waitReached(t)
	eval[bool](t, ctx, `window.__notReloaded = true`)
	screenshot(t, ctx, "in-progress")
	release()
	run(t, ctx, "watch it end", until(firstRun(`st === 'Successful' && records === '5'`)+` && window.__notReloaded === true`))
	if n := eval[int](t, ctx, `[...document.querySelectorAll('button')].filter(b => b.textContent.trim() === 'Cancel').length`); n != 0 {
		t.Errorf("%d Cancel buttons after the run ended", n)
	}

	// Scheduled flows: Activate, then Deactivate.
	run(t, ctx, "activate", chromedp.Navigate(s.URL+"/console/flows/nightly"), chromedp.Click(button("Activate")),
		chromedp.WaitVisible(button("Deactivate")),
		until(`document.querySelector('#flow-summary .status').textContent.trim() === 'Active'`))
	run(t, ctx, "deactivate", chromedp.Click(button("Deactivate")), chromedp.WaitVisible(button("Activate")),
		until(`document.querySelector('#flow-summary .status').textContent.trim() === 'Suspended'`))

	// Phone width: nothing sticks out sideways.
	for _, page := range []string{"/console/", "/console/flows/orders", "/console/flows/accounts", "/console/new", "/console/connectors", "/console/profiles"} {
		run(t, ctx, "phone "+page, chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.URL+page), chromedp.WaitVisible(chromedp.CSS("footer")))
		screenshot(t, ctx, "phone-"+safe(page))
		if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
			t.Errorf("%s at 390 px: the page is wider than the screen", page)
		}
	}
}

// TestBrowserFailedRunAndDelete: a failed run's message names its cause,
// on the flow page and the run page; Delete asks before it deletes.
func TestBrowserFailedRunAndDelete(t *testing.T) {
	s := start(t, false)
	createBrokenFlow(t, s, s.Client, "broken")
	ctx := browser(t)
	run(t, ctx, "run the broken flow", chromedp.Navigate(s.URL+"/console/flows/broken"),
		chromedp.Click(button("Run now")),
		chromedp.WaitVisible(chromedp.CSS(`p.message.notice`)),
		until(firstRun(`st === 'Error' && msg.includes('gone-broken does not exist')`)))
	screenshot(t, ctx, "failed")
	run(t, ctx, "run page", chromedp.Click(chromedp.CSS(`table.runs tbody tr th a`)), chromedp.WaitVisible(chromedp.CSS("#run-message")))
	screenshot(t, ctx, "failed-run")
	if msg := eval[string](t, ctx, `document.querySelector('#run-message').textContent`); !strings.Contains(msg, "S3 destination bucket gone-broken does not exist") {
		t.Errorf("run page message %q, want the missing bucket named", msg)
	}

	run(t, ctx, "delete", chromedp.Navigate(s.URL+"/console/flows/broken"), chromedp.Click(button("Delete")),
		chromedp.WaitVisible(link("Keep the flow")))
	screenshot(t, ctx, "delete-confirm")
	run(t, ctx, "confirm", chromedp.Click(button("Delete")),
		chromedp.WaitVisible(chromedp.CSS(`p.message.notice`)),
		until(`document.querySelector('p.message.notice').textContent.includes('Flow broken was deleted.')`))
}

// TestBrowserSignIn: a wrong secret is refused with a message; the right
// pair signs in and shows that key's account only; sign out works.
func TestBrowserSignIn(t *testing.T) {
	s := start(t, true)
	createS3Flow(t, s.client(keyA, secretA), "alice-flow", "dst")
	createS3Flow(t, s.client(keyB, secretB), "bob-flow", "dst")
	ctx := browser(t)

	signIn := func(key, secret string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(field("Access key ID")),
			chromedp.Clear(field("Access key ID")),
			chromedp.SendKeys(field("Access key ID"), key),
			chromedp.SendKeys(field("Secret access key"), secret),
			chromedp.Click(button("Sign in")),
		)
	}
	run(t, ctx, "wrong secret", chromedp.Navigate(s.URL+"/console/"), signIn(keyA, "not-the-secret"),
		chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
		until(`document.querySelector('[role=alert]').textContent.includes('Sign-in refused')`))
	screenshot(t, ctx, "refused")

	run(t, ctx, "sign in", signIn(keyA, secretA), chromedp.WaitVisible(link("alice-flow")))
	screenshot(t, ctx, "signed-in")
	if eval[bool](t, ctx, `document.body.textContent.includes('bob-flow')`) {
		t.Error("alice's list shows bob-flow")
	}
	if c := eval[string](t, ctx, `document.cookie`); c != "" {
		t.Errorf("the session cookie is readable from JavaScript: %q", c)
	}
	run(t, ctx, "bob's flow", chromedp.Navigate(s.URL+"/console/flows/bob-flow"), chromedp.WaitVisible(chromedp.CSS("h1")))
	alert := eval[string](t, ctx, `(document.querySelector('[role=alert]') || {textContent: ''}).textContent`)
	runNow := eval[int](t, ctx, `[...document.querySelectorAll('button')].filter(b => b.textContent.trim() === 'Run now').length`)
	if runNow != 0 || !strings.Contains(alert, "bob-flow") {
		t.Errorf("alice opening bob's flow: alert %q, %d Run now buttons; want not found", alert, runNow)
	}
	screenshot(t, ctx, "other-account")

	run(t, ctx, "sign out", chromedp.Click(button("Sign out")), chromedp.WaitVisible(field("Access key ID")),
		chromedp.Navigate(s.URL+"/console/"), chromedp.WaitVisible(button("Sign in")))
	run(t, ctx, "bob signs in", signIn(keyB, secretB), chromedp.WaitVisible(link("bob-flow")))
	if eval[bool](t, ctx, `document.body.textContent.includes('alice-flow')`) {
		t.Error("bob's list shows alice-flow")
	}
}

// TestBrowserCreateFlow: the create form shows the API's validation message
// beside the definition; a good definition creates the flow and opens it.
func TestBrowserCreateFlow(t *testing.T) {
	s := start(t, false)
	ctx := browser(t)
	bad := `{"flowName": "made-in-browser", "tasks": [], "destinationFlowConfigList": []}`
	want := apiMessage(t, s.URL, "/create-flow", bad)
	run(t, ctx, "open the form", chromedp.Navigate(s.URL+"/console/"), chromedp.Click(link("Create flow")),
		chromedp.WaitVisible(field("Flow definition (CreateFlow JSON)")),
		chromedp.SetValue(chromedp.ID("definition"), bad),
		chromedp.Click(button("Create flow")),
		chromedp.WaitVisible(chromedp.ID("definition-error")))
	screenshot(t, ctx, "invalid")
	if got := eval[string](t, ctx, `document.getElementById('definition-error').textContent`); got != "Error: "+want {
		t.Errorf("message beside the form %q, want the API's %q", got, want)
	}
	if got := eval[string](t, ctx, `document.getElementById('definition').getAttribute('aria-describedby')`); got != "definition-error" {
		t.Errorf("the definition is not described by its error: %q", got)
	}
	good := `{"flowName": "made-in-browser", "triggerConfig": {"triggerType": "OnDemand"},
	  "sourceFlowConfig": {"connectorType": "S3", "sourceConnectorProperties": {"S3": {"bucketName": "src", "bucketPrefix": "in"}}},
	  "destinationFlowConfigList": [{"connectorType": "S3", "destinationConnectorProperties": {"S3": {"bucketName": "dst"}}}],
	  "tasks": [{"taskType": "Map_all", "sourceFields": [], "connectorOperator": {"S3": "NO_OP"}}]}`
	run(t, ctx, "create", chromedp.SetValue(chromedp.ID("definition"), good), chromedp.Click(button("Create flow")),
		chromedp.WaitVisible(button("Run now")),
		until(`document.querySelector('h1').textContent.trim() === 'Flow made-in-browser'`))
	run(t, ctx, "run it", chromedp.Click(button("Run now")), chromedp.WaitVisible(chromedp.CSS(`p.message.notice`)),
		until(firstRun(`st === 'Successful' && records === '3'`)))
	run(t, ctx, "connectors", chromedp.Click(link("Connectors")), chromedp.WaitVisible(chromedp.CSS("table.connectors")))
	screenshot(t, ctx, "connectors")
}
