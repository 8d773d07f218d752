// Package lambda is a small client of the AWS Lambda Invoke API
// (POST /2015-03-31/functions/{FunctionName}/invocations, synchronous
// RequestResponse invocations), enough for appflowd to call custom connector
// Lambdas: on real AWS Lambda or another Lambda API (SigV4-signed), or on
// the Lambda Runtime Interface Emulator. internal/connector/awsconfig
// builds it with the process's endpoint, region and credentials.
package lambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// MaxPayload is Lambda's limit on a synchronous invocation's request and
// response payloads: 6 MB.
const MaxPayload = 6 * 1024 * 1024

// Client invokes Lambda functions.
type Client struct {
	// Endpoint overrides AWS Lambda. A URL whose path ends in /invocations
	// is used as is, unsigned, for every function (the Runtime Interface
	// Emulator's http://host:9000/2015-03-31/functions/function/invocations);
	// any other URL is the base of a Lambda API, which the standard path is
	// appended to, signed like AWS Lambda when the process has credentials. Empty: https://lambda.<region>.amazonaws.com.
	Endpoint string
	// Region is used when a function name is not an ARN.
	Region string
	HTTP   *http.Client
	// Credentials sign requests to a Lambda API; without any, requests to
	// AWS Lambda fail and requests to an override go unsigned.
	Credentials aws.CredentialsProvider
}

// FunctionError is an invocation the function itself failed: the response
// carried X-Amz-Function-Error (Handled or Unhandled) and an error object.
type FunctionError struct {
	Function string
	Kind     string // the X-Amz-Function-Error value
	Type     string // errorType
	Message  string // errorMessage, or the raw payload when it is not an error object
}

func (e *FunctionError) Error() string {
	msg := e.Message
	if e.Type != "" && msg != "" {
		msg = e.Type + ": " + msg
	} else if msg == "" {
		msg = e.Type
	}
	return fmt.Sprintf("Lambda function %s failed (%s): %s", e.Function, e.Kind, msg)
}

// APIError is a refusal by the Lambda service (not the function): an
// unknown function, missing permission, a payload too large, throttling.
type APIError struct {
	Function string
	Status   int
	Type     string // the x-amzn-ErrorType or the body's Type/__type
	Message  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("invoke Lambda function %s: HTTP %d %s: %s", e.Function, e.Status, e.Type, e.Message)
}

// ErrPayloadTooLarge is returned for a request or response over MaxPayload.
var ErrPayloadTooLarge = errors.New("payload exceeds the 6 MB Lambda limit")

// Invoke calls function synchronously with payload and returns its result.
func (c *Client) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("invoke Lambda function %s: request of %d bytes: %w", function, len(payload), ErrPayloadTooLarge)
	}
	target, sign, err := c.target(function)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("invoke Lambda function %s: %w", function, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	if sign {
		if err := c.sign(ctx, req, payload, regionOf(function, c.Region)); err != nil {
			return nil, fmt.Errorf("invoke Lambda function %s: sign request: %w", function, err)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke Lambda function %s: %w", function, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("invoke Lambda function %s: read response: %w", function, err)
	}
	if len(body) > MaxPayload {
		return nil, fmt.Errorf("invoke Lambda function %s: response: %w", function, ErrPayloadTooLarge)
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(function, resp, body)
	}
	if kind := resp.Header.Get("X-Amz-Function-Error"); kind != "" {
		return nil, functionError(function, kind, body)
	}
	return body, nil
}

// target is the URL to POST to and whether to sign it.
func (c *Client) target(function string) (string, bool, error) {
	path := "/2015-03-31/functions/" + url.PathEscape(function) + "/invocations"
	if c.Endpoint == "" {
		region := regionOf(function, c.Region)
		if region == "" {
			return "", false, fmt.Errorf("invoke Lambda function %s: no region: give a function ARN or a region", function)
		}
		return "https://lambda." + region + ".amazonaws.com" + path, true, nil
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false, fmt.Errorf("lambda endpoint %q is not an absolute URL", c.Endpoint)
	}
	if strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/invocations") {
		return c.Endpoint, false, nil
	}
	return strings.TrimSuffix(c.Endpoint, "/") + path, true, nil
}

// sign signs req for a Lambda API. A Lambda API at an endpoint override
// (a local stand-in, often run without any AWS setup) is called unsigned
// when the process has no credentials: a real one then refuses the call
// with its own error, and a stand-in that needs none still works.
func (c *Client) sign(ctx context.Context, req *http.Request, payload []byte, region string) error {
	if c.Credentials == nil {
		if c.Endpoint != "" {
			return nil
		}
		return errors.New("no AWS credentials found")
	}
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		if c.Endpoint != "" {
			return nil
		}
		return err
	}
	sum := sha256.Sum256(payload)
	return v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", region, time.Now())
}

// regionOf is the region of a function ARN (arn:aws:lambda:REGION:...),
// else def.
func regionOf(function, def string) string {
	parts := strings.Split(function, ":")
	if len(parts) >= 4 && parts[0] == "arn" && parts[2] == "lambda" && parts[3] != "" {
		return parts[3]
	}
	return def
}

func apiError(function string, resp *http.Response, body []byte) error {
	var b struct {
		Message  string `json:"message"`
		Message2 string `json:"Message"`
		Type     string `json:"Type"`
		Type2    string `json:"__type"`
	}
	_ = json.Unmarshal(body, &b)
	e := &APIError{Function: function, Status: resp.StatusCode, Type: resp.Header.Get("X-Amzn-ErrorType"), Message: b.Message}
	if e.Message == "" {
		e.Message = b.Message2
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
	}
	if e.Type == "" {
		e.Type = b.Type2
	}
	if i := strings.IndexByte(e.Type, ':'); i >= 0 {
		e.Type = e.Type[:i] // "ResourceNotFoundException:http://internal..."
	}
	return e
}

func functionError(function, kind string, body []byte) error {
	var b struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	e := &FunctionError{Function: function, Kind: kind}
	if json.Unmarshal(body, &b) == nil && (b.ErrorMessage != "" || b.ErrorType != "") {
		e.Message, e.Type = b.ErrorMessage, b.ErrorType
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}
