// Package exampleconn is an example AppFlow custom connector: it speaks the
// Custom Connector SDK's JSON protocol over plain HTTP on the Lambda Invoke
// path (POST /2015-03-31/functions/{name}/invocations), so appflowd's
// --lambda-endpoint can point at it, and serves a small in-memory dataset.
//
// It reads credentials as a real connector does: from the secretArn in the
// request, through Secrets Manager's GetSecretValue at SecretsEndpoint.
package exampleconn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Field is one field of an entity.
type Field struct {
	Name      string
	DataType  string // String, Integer, Double, Boolean, DateTime, ...
	PK        bool
	Timestamp bool // usable for incremental pulls
}

// Entity is one table of the dataset.
type Entity struct {
	Name   string
	Label  string
	Fields []Field
	Rows   []map[string]any
	// Broken makes QueryData return an invalid record (for tests).
	Broken bool
}

// Request is one protocol request the connector received.
type Request struct {
	Type string
	Body json.RawMessage
}

// Server is the connector.
type Server struct {
	// SecretsEndpoint is where GetSecretValue goes; "" skips reading the
	// secret (credentials are then accepted as they are).
	SecretsEndpoint string
	// AccessKeyID and SecretAccessKey sign GetSecretValue calls (SigV4), as
	// a Lambda's execution role would; "": unsigned.
	AccessKeyID, SecretAccessKey string
	// OAuth2TokenURL, when set, makes the connector declare OAuth2 support
	// (authorization code and client credentials grants) with this token
	// URL; ValidateCredentials then accepts OAuth2 secrets whose
	// accessToken AcceptToken approves (any non-empty one when nil).
	OAuth2TokenURL string
	AcceptToken    func(accessToken string) bool
	// Username and Password are the credentials ValidateCredentials accepts.
	Username, Password string
	HTTP               *http.Client

	mu       sync.Mutex
	entities map[string]*Entity
	requests []Request
}

// New returns a connector holding the example dataset.
func New() *Server {
	s := &Server{entities: map[string]*Entity{}, Username: "demo", Password: "demo-password"}
	s.Put(&Entity{
		Name: "accounts", Label: "Accounts",
		Fields: []Field{{Name: "id", DataType: "String", PK: true}, {Name: "name", DataType: "String"},
			{Name: "amount", DataType: "Double"}, {Name: "active", DataType: "Boolean"},
			{Name: "updatedAt", DataType: "DateTime", Timestamp: true}},
		Rows: []map[string]any{
			{"id": "A1", "name": "Acme", "amount": 1200.5, "active": true, "updatedAt": "2024-01-05T10:00:00Z"},
			{"id": "A2", "name": "Globex", "amount": 80, "active": false, "updatedAt": "2024-01-06T11:30:00Z"},
			{"id": "A3", "name": "Initech", "amount": 430.25, "active": true, "updatedAt": "2024-02-01T09:15:00Z"},
			{"id": "A4", "name": "Umbrella Corp", "amount": 99999, "active": true, "updatedAt": "2024-02-10T17:45:00Z"},
			{"id": "A5", "name": "Hooli", "amount": 15, "active": false, "updatedAt": "2024-03-01T08:00:00Z"},
		},
	})
	s.Put(&Entity{
		Name: "contacts", Label: "Contacts",
		Fields: []Field{{Name: "id", DataType: "String", PK: true}, {Name: "email", DataType: "String"},
			{Name: "accountId", DataType: "String"}},
	})
	return s
}

// Put adds or replaces an entity.
func (s *Server) Put(e *Entity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entities[e.Name] = e
}

// Rows returns a copy of an entity's rows.
func (s *Server) Rows(name string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities[name]
	if !ok {
		return nil
	}
	out := make([]map[string]any, len(e.Rows))
	for i, r := range e.Rows {
		c := map[string]any{}
		for k, v := range r {
			c[k] = v
		}
		out[i] = c
	}
	return out
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ServeHTTP answers Lambda Invoke calls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/invocations") {
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20+1))
	if err != nil || len(body) > 6<<20 {
		w.Header().Set("X-Amzn-ErrorType", "RequestTooLargeException")
		http.Error(w, `{"message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}`, http.StatusRequestEntityTooLarge)
		return
	}
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		functionError(w, "invalid request: "+err.Error())
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Type: env.Type, Body: append(json.RawMessage(nil), body...)})
	s.mu.Unlock()
	var out any
	switch env.Type {
	case "DescribeConnectorConfigurationRequest":
		out = s.configuration()
	case "ValidateCredentialsRequest":
		out, err = s.validateCredentials(body)
	case "ValidateConnectorRuntimeSettingsRequest":
		out, err = validateSettings(body)
	case "ListEntitiesRequest":
		out, err = s.listEntities(body)
	case "DescribeEntityRequest":
		out, err = s.describeEntity(body)
	case "QueryDataRequest":
		out, err = s.queryData(body)
	case "WriteDataRequest":
		out, err = s.writeData(body)
	default:
		err = fmt.Errorf("unsupported request type %q", env.Type)
	}
	if err != nil {
		functionError(w, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// functionError answers as Lambda does when a handler raises.
func functionError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Function-Error", "Unhandled")
	_ = json.NewEncoder(w).Encode(map[string]any{"errorMessage": msg, "errorType": "RuntimeError", "stackTrace": []string{}})
}

func failure(code, msg string) map[string]any {
	return map[string]any{"isSuccess": false, "errorDetails": map[string]any{"errorCode": code, "errorMessage": msg}}
}

func (s *Server) configuration() map[string]any {
	c := map[string]any{
		"isSuccess":                   true,
		"connectorOwner":              "appflowd examples",
		"connectorName":               "ExampleConnector",
		"connectorVersion":            "1.0",
		"connectorModes":              []string{"SOURCE", "DESTINATION"},
		"supportedApiVersions":        []string{"v1"},
		"operatorsSupported":          []string{"PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO", "CONTAINS", "NOT_EQUAL_TO", "NO_OP"},
		"supportedTriggerTypes":       []string{"SCHEDULED", "ONDEMAND"},
		"triggerFrequenciesSupported": []string{"BYMINUTE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "ONCE"},
		"supportedWriteOperations":    []string{"INSERT", "UPSERT", "UPDATE", "DELETE"},
		"authenticationConfig": map[string]any{
			"isBasicAuthSupported":  true,
			"isCustomAuthSupported": true,
			"customAuthConfig": []any{map[string]any{"authenticationType": "token", "authParameters": []any{
				map[string]any{"key": "token", "required": true, "label": "Token", "description": "An access token", "sensitiveField": true},
			}}},
		},
		"connectorRuntimeSetting": []any{
			map[string]any{"key": "region", "dataType": "String", "required": false, "label": "Region",
				"description": "Data region", "scope": "CONNECTOR_PROFILE", "connectorSuppliedValueOptions": []string{"eu", "us"}},
			map[string]any{"key": "maxPageSize", "dataType": "Integer", "required": false, "label": "Page size",
				"description": "Records per QueryData page, at most 1000", "scope": "SOURCE"},
			map[string]any{"key": "batchSize", "dataType": "Integer", "required": false, "label": "Batch size",
				"description": "Records per write, at most 1000", "scope": "DESTINATION"},
		},
		"logoURL": "https://example.com/logo.png",
	}
	if s.OAuth2TokenURL != "" {
		auth := c["authenticationConfig"].(map[string]any)
		auth["isOAuth2Supported"] = true
		auth["oAuth2Defaults"] = map[string]any{
			"oAuthScopes":               []string{"read", "write"},
			"tokenURL":                  []string{s.OAuth2TokenURL},
			"authURL":                   []string{s.OAuth2TokenURL + "/authorize"},
			"oAuth2GrantTypesSupported": []string{"AUTHORIZATION_CODE", "CLIENT_CREDENTIALS"},
		}
	}
	return c
}

func (s *Server) validateCredentials(body []byte) (any, error) {
	var req struct {
		Credentials *struct {
			SecretArn          string `json:"secretArn"`
			AuthenticationType string `json:"authenticationType"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Credentials == nil {
		return nil, fmt.Errorf("ValidateCredentialsRequest is missing required parameters {'credentials'}")
	}
	if s.SecretsEndpoint == "" {
		return map[string]any{"isSuccess": true}, nil
	}
	secret, err := s.getSecret(req.Credentials.SecretArn)
	if err != nil {
		return failure("ResourceNotFoundError", err.Error()), nil
	}
	switch req.Credentials.AuthenticationType {
	case "BasicAuth":
		if secret["username"] != s.Username || secret["password"] != s.Password {
			return failure("InvalidCredentials", "username or password is wrong"), nil
		}
	case "OAuth2":
		ok := secret["accessToken"] != ""
		if ok && s.AcceptToken != nil {
			ok = s.AcceptToken(secret["accessToken"])
		}
		if !ok {
			return failure("InvalidCredentials", "the access token is not valid"), nil
		}
	case "CustomAuth":
		if secret["token"] == "" {
			return failure("InvalidCredentials", "the token is empty"), nil
		}
	default:
		return failure("InvalidCredentials", "unsupported authentication type "+req.Credentials.AuthenticationType), nil
	}
	return map[string]any{"isSuccess": true}, nil
}

// validateSettings checks the runtime settings of a scope: maxPageSize
// (SOURCE) and batchSize (DESTINATION) must be integers from 1 to 1000;
// region (CONNECTOR_PROFILE) eu or us.
func validateSettings(body []byte) (any, error) {
	var req struct {
		Scope    string            `json:"scope"`
		Settings map[string]string `json:"connectorRuntimeSettings"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Scope == "" || req.Settings == nil {
		return nil, fmt.Errorf("ValidateConnectorRuntimeSettingsRequest is missing required parameters {'scope', 'connectorRuntimeSettings'}")
	}
	bad := map[string]string{}
	count := func(key string) {
		if v, ok := req.Settings[key]; ok {
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
				bad[key] = key + " must be an integer from 1 to 1000, not " + strconv.Quote(v)
			}
		}
	}
	switch req.Scope {
	case "SOURCE":
		count("maxPageSize")
	case "DESTINATION":
		count("batchSize")
	case "CONNECTOR_PROFILE":
		if r, ok := req.Settings["region"]; ok && r != "eu" && r != "us" {
			bad["region"] = "region must be eu or us"
		}
	}
	if len(bad) > 0 {
		out := failure("InvalidArgument", "invalid runtime settings")
		out["errorsByInputField"] = bad
		return out, nil
	}
	return map[string]any{"isSuccess": true}, nil
}

// getSecret reads a secret with secretsmanager:GetSecretValue, signed with
// AccessKeyID/SecretAccessKey when set (appflowd --credentials), unsigned
// otherwise (appflowd then answers loopback callers only).
func (s *Server) getSecret(arn string) (map[string]string, error) {
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if s.AccessKeyID != "" {
		creds = credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, "")
	}
	region := "us-east-1"
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 && parts[3] != "" {
		region = parts[3] // arn:aws:secretsmanager:<region>:<account>:secret:<name>
	}
	opts := secretsmanager.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(s.SecretsEndpoint)}
	if s.HTTP != nil {
		opts.HTTPClient = s.HTTP
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := secretsmanager.New(opts).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", arn, err)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		return nil, fmt.Errorf("secret %s is not a JSON object: %w", arn, err)
	}
	return m, nil
}

func (s *Server) listEntities(body []byte) (any, error) {
	var req struct {
		EntitiesPath string `json:"entitiesPath"`
		NextToken    string `json:"nextToken"`
		MaxResult    int    `json:"maxResult"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.EntitiesPath != "" {
		return map[string]any{"isSuccess": true, "entities": []any{}}, nil
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.entities))
	for n := range s.entities {
		names = append(names, n)
	}
	labels := map[string]string{}
	for n, e := range s.entities {
		labels[n] = e.Label
	}
	s.mu.Unlock()
	sort.Strings(names)
	start, _ := strconv.Atoi(req.NextToken)
	size := req.MaxResult
	if size <= 0 {
		size = 1000
	}
	end := min(start+size, len(names))
	start = min(start, end)
	var ents []any
	for _, n := range names[start:end] {
		ents = append(ents, map[string]any{"entityIdentifier": n, "hasNestedEntities": false, "label": labels[n], "description": labels[n]})
	}
	out := map[string]any{"isSuccess": true, "entities": ents, "cacheControl": map[string]any{"timeToLive": 3600, "timeToLiveUnit": "SECONDS"}}
	if end < len(names) {
		out["nextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) entity(name string) (*Entity, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities[name]
	return e, ok
}

func (s *Server) describeEntity(body []byte) (any, error) {
	var req struct {
		EntityIdentifier string `json:"entityIdentifier"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	e, ok := s.entity(req.EntityIdentifier)
	if !ok {
		return failure("InvalidArgument", "no entity "+req.EntityIdentifier), nil
	}
	var fields []any
	for _, f := range e.Fields {
		fields = append(fields, map[string]any{
			"fieldName": f.Name, "dataType": f.DataType, "label": f.Name, "isPrimaryKey": f.PK,
			"readProperties": map[string]any{"isRetrievable": true, "isNullable": !f.PK, "isQueryable": true,
				"isTimestampFieldForIncrementalQueries": f.Timestamp},
			"writeProperties": map[string]any{"isCreatable": true, "isUpdatable": !f.PK, "isNullable": !f.PK, "isUpsertable": true,
				"supportedWriteOperations": []string{"INSERT", "UPSERT", "UPDATE", "DELETE"}},
		})
	}
	return map[string]any{"isSuccess": true, "entityDefinition": map[string]any{
		"entity": map[string]any{"entityIdentifier": e.Name, "hasNestedEntities": false, "label": e.Label, "isWritable": true},
		"fields": fields,
	}}, nil
}

func (s *Server) queryData(body []byte) (any, error) {
	var req struct {
		EntityIdentifier   string   `json:"entityIdentifier"`
		SelectedFieldNames []string `json:"selectedFieldNames"`
		FilterExpression   string   `json:"filterExpression"`
		NextToken          string   `json:"nextToken"`
		MaxResults         int      `json:"maxResults"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	e, ok := s.entity(req.EntityIdentifier)
	if !ok {
		return failure("InvalidArgument", "no entity "+req.EntityIdentifier), nil
	}
	if e.Broken {
		return map[string]any{"isSuccess": true, "records": []string{`{"id": "1", "name": `}}, nil
	}
	match, err := compileFilter(req.FilterExpression)
	if err != nil {
		return failure("InvalidArgument", "filterExpression: "+err.Error()), nil
	}
	var rows []map[string]any
	for _, r := range s.Rows(req.EntityIdentifier) {
		if match(r) {
			rows = append(rows, r)
		}
	}
	start, _ := strconv.Atoi(req.NextToken)
	size := req.MaxResults
	if size <= 0 {
		size = 1000
	}
	end := min(start+size, len(rows))
	start = min(start, end)
	recs := []string{}
	for _, r := range rows[start:end] {
		if req.SelectedFieldNames != nil {
			p := map[string]any{}
			for _, f := range req.SelectedFieldNames {
				if v, ok := r[f]; ok {
					p[f] = v
				}
			}
			r = p
		}
		b, _ := json.Marshal(r)
		recs = append(recs, string(b))
	}
	out := map[string]any{"isSuccess": true, "records": recs}
	if end < len(rows) {
		out["nextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// writeData applies INSERT, UPSERT, UPDATE and DELETE; a record without
// its primary key, or with a negative amount, is refused on its own.
func (s *Server) writeData(body []byte) (any, error) {
	var req struct {
		EntityIdentifier string   `json:"entityIdentifier"`
		Operation        string   `json:"operation"`
		IDFieldNames     []string `json:"idFieldNames"`
		Records          []string `json:"records"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities[req.EntityIdentifier]
	if !ok {
		return failure("InvalidArgument", "no entity "+req.EntityIdentifier), nil
	}
	ids := req.IDFieldNames
	if len(ids) == 0 {
		for _, f := range e.Fields {
			if f.PK {
				ids = append(ids, f.Name)
			}
		}
	}
	key := func(r map[string]any) string {
		var parts []string
		for _, id := range ids {
			parts = append(parts, fmt.Sprint(r[id]))
		}
		return strings.Join(parts, "\x00")
	}
	find := func(k string) int {
		for i, r := range e.Rows {
			if key(r) == k {
				return i
			}
		}
		return -1
	}
	var results []any
	failed := 0
	for _, raw := range req.Records {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var r map[string]any
		res := map[string]any{"isSuccess": true}
		reject := func(msg string) {
			res["isSuccess"], res["errorMessage"] = false, msg
			failed++
		}
		if err := dec.Decode(&r); err != nil {
			reject("invalid JSON record: " + err.Error())
			results = append(results, res)
			continue
		}
		res["recordId"] = key(r)
		if a, ok := r["amount"].(json.Number); ok && strings.HasPrefix(a.String(), "-") {
			reject("amount must not be negative")
			results = append(results, res)
			continue
		}
		i := -1
		if req.Operation != "INSERT" {
			for _, id := range ids {
				if r[id] == nil {
					reject("missing id field " + id)
					break
				}
			}
			if res["isSuccess"] == false {
				results = append(results, res)
				continue
			}
			i = find(key(r))
		}
		switch req.Operation {
		case "INSERT", "":
			e.Rows = append(e.Rows, r)
		case "UPSERT":
			if i < 0 {
				e.Rows = append(e.Rows, r)
			} else {
				for k, v := range r {
					e.Rows[i][k] = v
				}
			}
		case "UPDATE":
			if i < 0 {
				reject("no record with id " + key(r))
			} else {
				for k, v := range r {
					e.Rows[i][k] = v
				}
			}
		case "DELETE":
			if i < 0 {
				reject("no record with id " + key(r))
			} else {
				e.Rows = slices.Delete(e.Rows, i, i+1)
			}
		default:
			return failure("InvalidArgument", "unsupported operation "+req.Operation), nil
		}
		results = append(results, res)
	}
	out := map[string]any{"isSuccess": failed == 0, "writeRecordResults": results}
	if failed > 0 {
		out["errorDetails"] = map[string]any{"errorCode": "PartialWriteFailure", "errorMessage": fmt.Sprintf("%d of %d records failed", failed, len(req.Records))}
	}
	return out, nil
}
