package service

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	"github.com/appflowd/appflowd/internal/fault"
)

// flowCheckBuckets refuses, at CreateFlow and UpdateFlow, a bucket name or
// prefix that could never work, naming the member, instead of failing at
// the first run: every bucketName and intermediateBucketName (S3, Upsolver,
// Redshift and Snowflake staging, any errorHandlingConfig) must follow S3's
// bucket naming rules, and a bucketPrefix may hold no "." or ".." folder
// and no control character.
func flowCheckBuckets(d *flowDef) error {
	if d.Source != nil {
		if err := checkBucketMembers("sourceFlowConfig.sourceConnectorProperties", d.Source.SourceConnectorProperties); err != nil {
			return err
		}
	}
	for i := range d.Dests {
		if err := checkBucketMembers(fmt.Sprintf("destinationFlowConfigList.%d.member.destinationConnectorProperties", i+1), d.Dests[i].DestinationConnectorProperties); err != nil {
			return err
		}
	}
	return nil
}

// checkBucketMembers walks the JSON of a union of connector properties,
// so every connector's bucket members are checked by their wire names.
func checkBucketMembers(path string, props any) error {
	if props == nil {
		return nil
	}
	raw, err := json.Marshal(props)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "encode %s", path)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fault.Wrap(fault.Internal, err, "decode %s", path)
	}
	return walkBucketMembers(path, v)
}

func walkBucketMembers(path string, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		member := path + "." + k
		switch val := m[k].(type) {
		case string:
			switch k {
			case "bucketName", "intermediateBucketName":
				if msg := bucketNameProblem(val); msg != "" {
					return memberInvalid(member, val, "Member must follow the S3 bucket naming rules: "+msg)
				}
			case "bucketPrefix":
				if msg := bucketPrefixProblem(val); msg != "" {
					return memberInvalid(member, val, "Member must be a usable key prefix: "+msg)
				}
			}
		case map[string]any:
			if err := walkBucketMembers(member, val); err != nil {
				return err
			}
		}
	}
	return nil
}

// memberInvalid words a refusal as the model's validation does.
func memberInvalid(member, value, constraint string) error {
	return fault.New(fault.Invalid, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// bucketNameProblem says why name breaks S3's general purpose bucket
// naming rules, or "".
func bucketNameProblem(name string) string {
	switch {
	case len(name) < 3 || len(name) > 63:
		return "a bucket name must be 3 to 63 characters long"
	case !bucketNameRE.MatchString(name):
		return "a bucket name holds only lower-case letters, digits, dots and hyphens, and begins and ends with a letter or digit"
	case strings.Contains(name, ".."):
		return "a bucket name must not hold two adjacent dots"
	case net.ParseIP(name) != nil:
		return "a bucket name must not be an IP address"
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return "a bucket name must not begin with " + p
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return "a bucket name must not end with " + s
		}
	}
	return ""
}

// bucketPrefixProblem says why a prefix can never be written, or "": the
// S3 destination refuses "." and ".." folders (they would leave the folder
// on local buckets) and control characters.
func bucketPrefixProblem(prefix string) string {
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("a bucket prefix must not hold a %q folder", seg)
		}
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f {
			return "a bucket prefix must not hold control characters"
		}
	}
	return ""
}
