package customconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/connector/awsconfig"
	"github.com/appflowd/appflowd/internal/fault"
	"github.com/appflowd/appflowd/internal/lambda"
)

// The timeouts AppFlow gives a connector Lambda (JAVA-SDK README, "SDK
// Restrictions"): configuration and metadata calls 10 s, data calls 30 s.
const (
	MetadataTimeout = 10 * time.Second
	DataTimeout     = 30 * time.Second
)

// invoker calls a Lambda function; *lambda.Client is the real one.
type invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// client speaks the protocol to one connector Lambda.
type client struct {
	inv      invoker
	arn      string
	metadata time.Duration // 0: MetadataTimeout (tests shorten them)
	data     time.Duration
}

func newClient(deps connector.Deps, arn string) *client {
	return &client{inv: awsconfig.Lambda(deps), arn: arn}
}

type outcome interface{ outcome() *result }

// call invokes the Lambda with req within timeout and decodes its answer
// into resp. An answer with isSuccess false is an error carrying the
// connector's own message.
func (c *client) call(ctx context.Context, timeout time.Duration, op string, req any, resp outcome) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // filter expressions hold < and >; send them as written
	if err := enc.Encode(req); err != nil {
		return fault.Wrap(fault.Internal, err, "encode %s", op)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(payload) > lambda.MaxPayload {
		return fault.New(fault.Invalid, "%s to connector Lambda %s is %d bytes, over the 6 MB Lambda payload limit", op, c.arn, len(payload))
	}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	body, err := c.inv.Invoke(cctx, c.arn, payload)
	if err != nil {
		return c.invokeError(ctx, cctx, op, timeout, err)
	}
	if err := json.Unmarshal(body, resp); err != nil {
		return fault.Wrap(fault.ConnectorServer, err, "connector Lambda %s answered %s with invalid JSON", c.arn, op)
	}
	return connectorError(op, resp.outcome())
}

var errTimeout = errors.New("connector Lambda timed out")

func (c *client) invokeError(ctx, cctx context.Context, op string, timeout time.Duration, err error) error {
	if ctx.Err() != nil {
		return fault.Wrap(fault.Canceled, ctx.Err(), "%s", op) // the caller gave up, not the connector
	}
	if errors.Is(context.Cause(cctx), errTimeout) {
		return fault.New(fault.ConnectorServer, "connector Lambda %s did not answer %s within %s", c.arn, op, timeout)
	}
	var fe *lambda.FunctionError
	if errors.As(err, &fe) {
		// The connector's own message, as AppFlow shows it.
		msg := fe.Message
		if msg == "" {
			msg = fe.Error()
		}
		return fault.New(fault.ConnectorServer, "%s", msg)
	}
	if errors.Is(err, lambda.ErrPayloadTooLarge) {
		return fault.Wrap(fault.ConnectorServer, err, "%s", op)
	}
	var ae *lambda.APIError
	if errors.As(err, &ae) {
		code := fault.ConnectorServer
		switch {
		case ae.Status == 403 || ae.Type == "AccessDeniedException":
			code = fault.AccessDenied
		case ae.Status == 404 || ae.Type == "ResourceNotFoundException":
			code = fault.Invalid
		case ae.Status == 429 || ae.Type == "TooManyRequestsException":
			code = fault.Throttled
		}
		return fault.Wrap(code, err, "%s", op)
	}
	return fault.Wrap(fault.ConnectorServer, err, "%s", op)
}

// connectorError turns an unsuccessful answer into an error classified by
// the connector's errorCode, worded with its errorMessage.
func connectorError(op string, r *result) error {
	if r.IsSuccess == nil || *r.IsSuccess {
		return nil
	}
	code, msg := "", ""
	if d := r.ErrorDetails; d != nil {
		code, msg = d.ErrorCode, d.ErrorMessage
	}
	if msg == "" {
		msg = fmt.Sprintf("the connector reported %s failed", op)
		if code != "" {
			msg += " (" + code + ")"
		}
	}
	fc, ok := errorCodes[code]
	if !ok {
		fc = fault.ConnectorServer
	}
	return &fault.Error{Code: fc, Msg: msg}
}

// errorCodes classifies the SDK's ErrorCode values; the rest (ServerError,
// UnknownError, ServiceUnavailable, ClientError, ...) are ConnectorServer.
var errorCodes = map[string]fault.Code{
	"InvalidArgument":       fault.Invalid,
	"InvalidCredentials":    fault.AuthFailed,
	"AccessDenied":          fault.AuthFailed,
	"RateLimitExceeded":     fault.Throttled,
	"ResourceNotFoundError": fault.NotFound,
}

func (c *client) metadataTimeout() time.Duration {
	if c.metadata > 0 {
		return c.metadata
	}
	return MetadataTimeout
}

func (c *client) dataTimeout() time.Duration {
	if c.data > 0 {
		return c.data
	}
	return DataTimeout
}

func (c *client) describeConfiguration(ctx context.Context, label string) (*connector.CustomConfiguration, error) {
	var out configurationResponse
	err := c.call(ctx, c.metadataTimeout(), "DescribeConnectorConfiguration",
		describeConfigurationRequest{Type: typeDescribeConfiguration, Locale: "en-US", ConnectorLabel: label}, &out)
	if err != nil {
		return nil, err
	}
	return &out.CustomConfiguration, nil
}
