package s3conn

import (
	"context"
	"encoding/json"
	"strings"
	"unicode"

	"github.com/appflowd/appflowd/internal/connector"
	"github.com/appflowd/appflowd/internal/fault"
)

// Upsolver is a destination only: AppFlow writes into an S3 bucket that
// Upsolver reads (data-plane 4.4). appflowd runs it on the S3 writer: the
// properties (UpsolverDestinationProperties) are S3's with three
// differences, checked here before they are handed on as S3's:
//   - bucketName must start with "upsolver-appflow" and be 16 to 63
//     characters with no whitespace (the model's UpsolverBucketName);
//   - s3OutputFormatConfig and its prefixConfig are required;
//   - there is no preserveSourceDataTyping (a value given is rejected).
//
// The key layout, formats and aggregation are S3's, option for option.

// UpsolverType is the ConnectorType enum value of the Upsolver destination.
const UpsolverType = "Upsolver"

// upsolverBucketPrefix starts every Upsolver bucket name.
const upsolverBucketPrefix = "upsolver-appflow"

func init() { connector.Register(UpsolverSpec()) }

// UpsolverSpec is what DescribeConnectors says about Upsolver, plus the
// opener; the catalog (internal/connector/catalog) fills the rest.
func UpsolverSpec() connector.Spec {
	return connector.Spec{
		Capabilities: connector.Capabilities{
			Type:                UpsolverType,
			Description:         "Upsolver",
			CanUseAsDestination: true,
			RecyclesBatches:     true, // the S3 writer's
			CopiesStrings:       true,
		},
		Open: OpenUpsolver,
	}
}

// UpsolverDriver is the Upsolver destination: the S3 writer behind the
// Upsolver properties. It implements connector.DestinationDriver only.
type UpsolverDriver struct {
	s3 *Driver
}

var _ connector.DestinationDriver = (*UpsolverDriver)(nil)

// OpenUpsolver is the connector.Opener for Upsolver; it takes no profile.
func OpenUpsolver(ctx context.Context, deps connector.Deps, _ connector.Profile) (connector.Driver, error) {
	return NewUpsolver(ctx, deps)
}

// NewUpsolver builds an Upsolver driver on the same buckets as S3's.
func NewUpsolver(ctx context.Context, deps connector.Deps) (*UpsolverDriver, error) {
	d, err := New(ctx, deps)
	if err != nil {
		return nil, err
	}
	d.encrypt = true // what AppFlow stages for Upsolver carries the flow's key
	return &UpsolverDriver{s3: d}, nil
}

// upsolverProps is destinationConnectorProperties.Upsolver. The prefix and
// aggregation configs are S3's shapes and pass through unchanged.
type upsolverProps struct {
	BucketName           string `json:"bucketName"`
	BucketPrefix         string `json:"bucketPrefix"`
	S3OutputFormatConfig *struct {
		FileType                 string          `json:"fileType"`
		PrefixConfig             json.RawMessage `json:"prefixConfig"`
		AggregationConfig        json.RawMessage `json:"aggregationConfig"`
		PreserveSourceDataTyping json.RawMessage `json:"preserveSourceDataTyping"`
	} `json:"s3OutputFormatConfig"`
}

// checkUpsolverBucketName applies the model's UpsolverBucketName rule.
func checkUpsolverBucketName(name string) error {
	if name == "" {
		return fault.New(fault.Invalid, "Upsolver bucketName is required")
	}
	if !strings.HasPrefix(name, upsolverBucketPrefix) {
		return fault.New(fault.Invalid, "Upsolver bucketName %q must start with %q", name, upsolverBucketPrefix)
	}
	if n := len(name); n < 16 || n > 63 {
		return fault.New(fault.Invalid, "Upsolver bucketName %q must be 16 to 63 characters long, not %d", name, n)
	}
	if strings.ContainsFunc(name, unicode.IsSpace) {
		return fault.New(fault.Invalid, "Upsolver bucketName %q must not contain whitespace", name)
	}
	return checkBucketName(name)
}

// upsolverToS3 checks Upsolver properties and returns them as
// destinationConnectorProperties.S3.
func upsolverToS3(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, fault.New(fault.Invalid, "no properties")
	}
	var p upsolverProps
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "decode Upsolver properties")
	}
	if err := checkUpsolverBucketName(p.BucketName); err != nil {
		return nil, err
	}
	f := p.S3OutputFormatConfig
	if f == nil {
		return nil, fault.New(fault.Invalid, "Upsolver s3OutputFormatConfig is required")
	}
	if isJSONNull(f.PrefixConfig) {
		return nil, fault.New(fault.Invalid, "Upsolver s3OutputFormatConfig.prefixConfig is required")
	}
	if !isJSONNull(f.PreserveSourceDataTyping) {
		return nil, fault.New(fault.Invalid, "Upsolver s3OutputFormatConfig has no preserveSourceDataTyping (an S3 option)")
	}
	format := map[string]any{"prefixConfig": f.PrefixConfig}
	if f.FileType != "" {
		format["fileType"] = f.FileType
	}
	if !isJSONNull(f.AggregationConfig) {
		format["aggregationConfig"] = f.AggregationConfig
	}
	out, err := json.Marshal(map[string]any{
		"bucketName":           p.BucketName,
		"bucketPrefix":         p.BucketPrefix,
		"s3OutputFormatConfig": format,
	})
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode Upsolver properties as S3's")
	}
	return out, nil
}

func isJSONNull(m json.RawMessage) bool {
	s := strings.TrimSpace(string(m))
	return s == "" || s == "null"
}

// OpenWriter starts one run's output through the S3 writer.
func (u *UpsolverDriver) OpenWriter(ctx context.Context, req *connector.WriteRequest) (connector.Writer, error) {
	props, err := upsolverToS3(req.Properties)
	if err != nil {
		return nil, err
	}
	r := *req
	r.Properties = props
	return u.s3.OpenWriter(ctx, &r)
}
