package snowflakeconn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// statementRequest is the body of POST /api/v2/statements.
type statementRequest struct {
	Statement  string             `json:"statement"`
	Timeout    int                `json:"timeout,omitempty"`
	Database   string             `json:"database,omitempty"`
	Schema     string             `json:"schema,omitempty"`
	Warehouse  string             `json:"warehouse,omitempty"`
	Role       string             `json:"role,omitempty"`
	Bindings   map[string]binding `json:"bindings,omitempty"`
	Parameters map[string]string  `json:"parameters,omitempty"`
}

type binding struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// rowType is one column of a result set's metadata.
type rowType struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// resultSet is the ResultSet (200), QueryStatus (202) or
// QueryFailureStatus (422) object of the SQL API.
type resultSet struct {
	Code               string `json:"code"`
	SQLState           string `json:"sqlState"`
	Message            string `json:"message"`
	StatementHandle    string `json:"statementHandle"`
	StatementStatusURL string `json:"statementStatusUrl"`
	ResultSetMetaData  struct {
		NumRows       int64     `json:"numRows"`
		Format        string    `json:"format"`
		RowType       []rowType `json:"rowType"`
		PartitionInfo []struct {
			RowCount int64 `json:"rowCount"`
		} `json:"partitionInfo"`
	} `json:"resultSetMetaData"`
	Data [][]*string `json:"data"`
}

// col is the index of a column by name (case-insensitive), -1 if absent.
func (r *resultSet) col(name string) int {
	for i, c := range r.ResultSetMetaData.RowType {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// get is row i's value of column name ("" for NULL or no such column).
func (r *resultSet) get(i int, name string) string {
	j := r.col(name)
	if j < 0 || j >= len(r.Data[i]) || r.Data[i][j] == nil {
		return ""
	}
	return *r.Data[i][j]
}

// SQLError is a statement Snowflake refused (HTTP 422), or a refused
// request (401/403), with Snowflake's error code, SQLSTATE and message.
type SQLError struct {
	Status   int
	Code     string
	SQLState string
	Message  string
	Handle   string
}

func (e *SQLError) Error() string {
	s := fmt.Sprintf("snowflake: %s", e.Message)
	if e.Code != "" {
		s += fmt.Sprintf(" (code %s", e.Code)
		if e.SQLState != "" {
			s += ", SQLSTATE " + e.SQLState
		}
		s += ")"
	}
	return s
}

// authenticator yields the Authorization header value and its token type.
type authenticator interface {
	token() (value, tokenType string, err error)
}

type oauthToken string

func (t oauthToken) token() (string, string, error) { return string(t), "OAUTH", nil }

// accessToken is a Programmatic Access Token, which Snowflake lets a
// user give wherever a password goes.
type accessToken string

func (t accessToken) token() (string, string, error) {
	return string(t), "PROGRAMMATIC_ACCESS_TOKEN", nil
}

// keyPair makes KEYPAIR_JWTs: iss ACCOUNT.USER.SHA256:<public key
// fingerprint>, sub ACCOUNT.USER, valid for at most one hour, RS256.
type keyPair struct {
	account, user string
	key           *rsa.PrivateKey
	fingerprint   string
	now           func() time.Time

	mu  sync.Mutex
	jwt string
	exp time.Time
}

func (k *keyPair) token() (string, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.jwt != "" && now.Before(k.exp.Add(-5*time.Minute)) {
		return k.jwt, "KEYPAIR_JWT", nil
	}
	qualified := k.account + "." + k.user
	exp := now.Add(59 * time.Minute)
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"iss": qualified + "." + k.fingerprint, "sub": qualified,
		"iat": now.Unix(), "exp": exp.Unix(),
	})
	signing := hdr + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", "", fault.Wrap(fault.Internal, err, "snowflake: sign the key-pair JWT")
	}
	k.jwt, k.exp = signing+"."+base64.RawURLEncoding.EncodeToString(sig), exp
	return k.jwt, "KEYPAIR_JWT", nil
}

// newAuth picks the SQL API authentication the credentials allow.
func newAuth(account string, c Credentials, deps connector.Deps) (authenticator, error) {
	// AppFlow's Snowflake credentials have only username and password (at
	// most 512 characters, one line), and the SQL API takes no password
	// login: the password is a Programmatic Access Token, or an OAuth
	// access token when prefixed with "oauth:".
	if tok, ok := strings.CutPrefix(c.Password, "oauth:"); ok && c.AccessToken == "" {
		c.AccessToken, c.Password = tok, ""
	}
	switch {
	case c.AccessToken != "":
		return oauthToken(c.AccessToken), nil
	case c.PrivateKey != "":
		key, err := parseRSAKey(c.PrivateKey)
		if err != nil {
			return nil, err
		}
		if c.Username == "" || account == "" {
			return nil, fault.New(fault.Invalid, "snowflake: key-pair authentication needs username and accountName")
		}
		der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return nil, fault.Wrap(fault.Invalid, err, "snowflake: privateKey")
		}
		sum := sha256.Sum256(der)
		// The account part is the account identifier without region or
		// cloud (xy12345.us-east-1 → XY12345); org-account keeps its dash.
		acct, _, _ := strings.Cut(strings.ToUpper(account), ".")
		now := deps.Now
		if now == nil {
			now = time.Now
		}
		return &keyPair{account: acct, user: strings.ToUpper(c.Username), key: key,
			fingerprint: "SHA256:" + base64.StdEncoding.EncodeToString(sum[:]), now: now}, nil
	case c.Password != "":
		return accessToken(c.Password), nil
	}
	return nil, fault.New(fault.Invalid, "snowflake: the profile has no credentials: give a programmatic access token as the password (or privateKey, or accessToken)")
}

func parseRSAKey(s string) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, fault.New(fault.Invalid, "snowflake: privateKey is not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, fault.New(fault.Invalid, "snowflake: privateKey is not an RSA key")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fault.New(fault.Invalid, "snowflake: privateKey is neither PKCS#8 nor PKCS#1 RSA (encrypted keys are not supported)")
	}
	return k, nil
}

// client runs statements through the SQL API.
type client struct {
	base      string
	hc        *http.Client
	auth      authenticator
	pollEvery time.Duration
	warehouse string
	role      string
}

// exec runs one statement synchronously from the caller's view: a 202
// (still running) is polled with GET /api/v2/statements/{handle}, and
// further result partitions are fetched and appended.
func (c *client) exec(ctx context.Context, sql, database, schema string) (*resultSet, error) {
	body, _ := json.Marshal(statementRequest{
		Statement: sql, Timeout: 3600, Database: database, Schema: schema,
		Warehouse: c.warehouse, Role: c.role,
	})
	q := url.Values{"requestId": {newUUID()}}
	rs, status, err := c.do(ctx, http.MethodPost, "/api/v2/statements?"+q.Encode(), body)
	for err == nil && status == http.StatusAccepted {
		if rs.StatementHandle == "" {
			return nil, fault.New(fault.ConnectorServer, "snowflake: a statement still running has no statementHandle to poll: %s", rs.Message)
		}
		select {
		case <-ctx.Done():
			return nil, fault.Wrap(fault.Canceled, context.Cause(ctx), "snowflake: waiting for statement %s", rs.StatementHandle)
		case <-time.After(c.pollEvery):
		}
		rs, status, err = c.do(ctx, http.MethodGet, "/api/v2/statements/"+url.PathEscape(rs.StatementHandle), nil)
	}
	if err != nil {
		return nil, err
	}
	parts := rs.ResultSetMetaData.PartitionInfo
	if len(parts) > 0 {
		if err := rs.whole(0, rs.Data); err != nil {
			return nil, err
		}
	}
	for p := 1; p < len(parts); p++ {
		part, _, err := c.do(ctx, http.MethodGet, "/api/v2/statements/"+url.PathEscape(rs.StatementHandle)+"?partition="+fmt.Sprint(p), nil)
		if err != nil {
			return nil, err
		}
		if err := rs.whole(p, part.Data); err != nil {
			return nil, err
		}
		rs.Data = append(rs.Data, part.Data...)
	}
	return rs, nil
}

// whole checks partition p's rows against what the metadata says: its
// row count, and a cell per column in each row.
func (r *resultSet) whole(p int, rows [][]*string) error {
	if want := r.ResultSetMetaData.PartitionInfo[p].RowCount; int64(len(rows)) != want {
		return fault.New(fault.ConnectorServer, "snowflake: statement %s partition %d has %d rows, its metadata says %d", r.StatementHandle, p, len(rows), want)
	}
	if cols := len(r.ResultSetMetaData.RowType); cols > 0 {
		for i, row := range rows {
			if len(row) != cols {
				return fault.New(fault.ConnectorServer, "snowflake: statement %s partition %d row %d has %d cells for %d columns", r.StatementHandle, p, i+1, len(row), cols)
			}
		}
	}
	return nil
}

// do sends one request; 200 and 202 come back as a result set, anything
// else as an error.
func (c *client) do(ctx context.Context, method, path string, body []byte) (*resultSet, int, error) {
	tok, typ, err := c.auth.token()
	if err != nil {
		return nil, 0, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, fault.Wrap(fault.Invalid, err, "snowflake: request")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Snowflake-Authorization-Token-Type", typ)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "appflowd/1.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fault.Wrap(fault.Canceled, context.Cause(ctx), "snowflake: %s %s", method, path)
		}
		return nil, 0, fault.Wrap(fault.ConnectorServer, err, "snowflake: %s unreachable", c.base)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, 0, fault.Wrap(fault.ConnectorServer, err, "snowflake: read response")
	}
	var rs resultSet
	jerr := json.Unmarshal(raw, &rs)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
		if jerr != nil {
			return nil, 0, fault.Wrap(fault.ConnectorServer, jerr, "snowflake: malformed response")
		}
		return &rs, resp.StatusCode, nil
	}
	se := &SQLError{Status: resp.StatusCode, Code: rs.Code, SQLState: rs.SQLState, Message: rs.Message, Handle: rs.StatementHandle}
	if se.Message == "" {
		se.Message = strings.TrimSpace(string(raw))
		if se.Message == "" {
			se.Message = resp.Status
		}
	}
	code := fault.ConnectorServer
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		code = fault.AuthFailed
	case http.StatusTooManyRequests:
		code = fault.Throttled
	case http.StatusUnprocessableEntity:
		code = classifySQL(se)
	case http.StatusNotFound:
		code = fault.NotFound
	}
	return nil, 0, &fault.Error{Code: code, Msg: se.Error(), Err: se}
}

// classifySQL maps a refused statement: missing objects are NotFound,
// compilation and permission errors Invalid, data errors ConnectorServer.
func classifySQL(e *SQLError) fault.Code {
	switch {
	case e.Code == "002003" || e.SQLState == "02000" || e.SQLState == "42S02":
		return fault.NotFound
	case e.Code == "390303" || e.Code == "390318" || strings.HasPrefix(e.SQLState, "28"):
		return fault.AuthFailed
	case strings.HasPrefix(e.SQLState, "42"):
		return fault.Invalid
	}
	return fault.ConnectorServer
}

// sqlErr returns the SQLError inside err, if any.
func sqlErr(err error) *SQLError {
	var se *SQLError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
