package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/wire"
)

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"flows", "flow", "run", "edit", "delete", "profiles", "connectors", "signin", "error"}

func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

var funcs = template.FuncMap{
	"path":     url.PathEscape,
	"query":    url.QueryEscape,
	"time":     fmtTime,
	"duration": fmtDuration,
	"bytes":    fmtBytes,
	"count":    fmtCount,
	"sub":      func(a, b int) int { return a - b },
}

// page is what layout.html sees.
type page struct {
	Title       string
	Nav         string // the active navigation entry
	Open        bool   // no sign-in configured
	AccessKeyID string
	AccountID   string
	CSRF        string
	Body        any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, v *viewer, status int, name string, body titled) {
	p := page{Title: body.title(), Nav: name, Open: c.open(), CSRF: c.csrfToken(w, r, v), Body: body, AccountID: c.d.AccountID}
	if v != nil && v.s != nil {
		p.AccessKeyID, p.AccountID = v.s.AccessKeyID, v.s.AccountID
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, p); err != nil {
		c.d.Logger.Error("console render", "page", name, "err", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type titled interface{ title() string }

type errorView struct {
	Title   string
	Message string
}

func (e errorView) title() string { return e.Title }

// fail renders err from the service as an error page with the HTTP status
// the API would send for it.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *viewer, what string, err error) {
	status, msg := c.refusal(what, err)
	c.render(w, r, v, status, "error", errorView{Title: what, Message: msg})
}

// refusal is the HTTP status and the message the API would give for err:
// the service's own words, except that internal failures stay in the log.
func (c *Console) refusal(what string, err error) (int, string) {
	_, status := wire.ExceptionFor(fault.CodeOf(err))
	if status >= 500 {
		c.d.Logger.Error("console", "what", what, "err", err)
		return status, "Internal server error: the server's log has the details."
	}
	return status, fault.Message(err)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request, v *viewer) {
	c.render(w, r, v, http.StatusNotFound, "error", errorView{Title: "Not found", Message: "There is no console page at " + r.URL.Path + "."})
}

func fmtTime(t *wire.Timestamp) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDuration(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func fmtBytes(n *int64) string {
	if n == nil {
		return "—"
	}
	v := float64(*n)
	for _, unit := range []string{"B", "KiB", "MiB", "GiB"} {
		if v < 1024 || unit == "GiB" {
			if unit == "B" {
				return fmt.Sprintf("%d B", *n)
			}
			return fmt.Sprintf("%.1f %s", v, unit)
		}
		v /= 1024
	}
	return ""
}

func fmtCount(n *int64) string {
	if n == nil {
		return "—"
	}
	return strconv.FormatInt(*n, 10)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
