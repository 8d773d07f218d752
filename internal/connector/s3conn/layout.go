package s3conn

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/appflowd/appflowd/internal/fault"
)

// Object keys (data-plane 4.1):
//
//	{bucketPrefix}/{flowName}/[schemaVersion_{N}/][{yyyy}/{MM}/{dd}/{HH}/{mm}/][{executionId}/][{k}={v}/...]{file}
//
//   - schemaVersion_N when pathPrefixHierarchy holds SCHEMA_VERSION.
//   - Date folders (UTC, the run's start time) when prefixType is PATH or
//     PATH_AND_FILENAME, as deep as prefixFormat (YEAR..MINUTE); none when
//     prefixFormat is absent.
//   - The executionId folder when pathPrefixHierarchy holds EXECUTION_ID, or,
//     when the hierarchy is empty, whenever there are no date folders: so no
//     prefixConfig at all gives {prefix}/{flowName}/{executionId}/.
//   - Partition folders name=value in the Partition task's order; an absent
//     or empty value is "null". Values are escaped: '%', '/', '\', control
//     characters, and a whole "." or ".." become %XX.
//   - File names carry no extension (AppFlow's do not): part-NNNNN-{executionId},
//     NNNNN counting files in the run from 00001. prefixType FILENAME or
//     PATH_AND_FILENAME puts the run time in front, as deep as prefixFormat
//     (2024, 2024-03, 2024-03-05, 2024-03-05T14, 2024-03-05T14:07; seconds
//     when prefixFormat is absent): 2024-03-05T14:07-part-00001-{executionId}.
//   - The bucket prefix loses leading and trailing slashes; empty segments
//     ("a//b") collapse.

type prefixConfig struct {
	PrefixType          string   `json:"prefixType"`
	PrefixFormat        string   `json:"prefixFormat"`
	PathPrefixHierarchy []string `json:"pathPrefixHierarchy"`
}

// layout builds the keys of one run's files.
type layout struct {
	dir    string // ends with '/'
	name   string // file name prefix: "[{ts}-]part-"
	suffix string // "-{executionId}"
}

var (
	folderFormats = map[string]string{
		"YEAR": "2006/", "MONTH": "2006/01/", "DAY": "2006/01/02/", "HOUR": "2006/01/02/15/", "MINUTE": "2006/01/02/15/04/",
	}
	nameFormats = map[string]string{
		"YEAR": "2006", "MONTH": "2006-01", "DAY": "2006-01-02", "HOUR": "2006-01-02T15", "MINUTE": "2006-01-02T15:04",
	}
)

func newLayout(bucketPrefix, flowName, executionID string, schemaVersion int64, runAt time.Time, pc *prefixConfig) (*layout, error) {
	if flowName == "" || executionID == "" {
		return nil, fault.New(fault.Invalid, "s3 destination: a write needs a flow name and an execution id")
	}
	if strings.ContainsAny(flowName, "/\\") || strings.ContainsAny(executionID, "/\\") {
		return nil, fault.New(fault.Invalid, "s3 destination: flow name %q or execution id %q holds a slash", flowName, executionID)
	}
	prefix, err := cleanPrefix(bucketPrefix)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	if prefix != "" {
		sb.WriteString(prefix)
		sb.WriteByte('/')
	}
	sb.WriteString(flowName)
	sb.WriteByte('/')
	if pc == nil {
		pc = &prefixConfig{}
	}
	var hasSchema, hasExec bool
	for _, h := range pc.PathPrefixHierarchy {
		switch h {
		case "SCHEMA_VERSION":
			hasSchema = true
		case "EXECUTION_ID":
			hasExec = true
		default:
			return nil, fault.New(fault.Invalid, "s3 destination: pathPrefixHierarchy value %q is not EXECUTION_ID or SCHEMA_VERSION", h)
		}
	}
	var folders, stamp bool
	switch pc.PrefixType {
	case "":
	case "PATH":
		folders = true
	case "FILENAME":
		stamp = true
	case "PATH_AND_FILENAME":
		folders, stamp = true, true
	default:
		return nil, fault.New(fault.Invalid, "s3 destination: prefixType %q is not FILENAME, PATH or PATH_AND_FILENAME", pc.PrefixType)
	}
	if _, ok := folderFormats[pc.PrefixFormat]; !ok && pc.PrefixFormat != "" {
		return nil, fault.New(fault.Invalid, "s3 destination: prefixFormat %q is not YEAR, MONTH, DAY, HOUR or MINUTE", pc.PrefixFormat)
	}
	if schemaVersion < 1 {
		schemaVersion = 1
	}
	runAt = runAt.UTC()
	if hasSchema {
		sb.WriteString("schemaVersion_")
		sb.WriteString(strconv.FormatInt(schemaVersion, 10))
		sb.WriteByte('/')
	}
	dated := folders && pc.PrefixFormat != ""
	if dated {
		sb.WriteString(runAt.Format(folderFormats[pc.PrefixFormat]))
	}
	if hasExec || (len(pc.PathPrefixHierarchy) == 0 && !dated) {
		sb.WriteString(executionID)
		sb.WriteByte('/')
	}
	l := &layout{dir: sb.String(), name: "part-", suffix: "-" + executionID}
	if stamp {
		f := nameFormats[pc.PrefixFormat]
		if f == "" {
			f = "2006-01-02T15:04:05"
		}
		l.name = runAt.Format(f) + "-part-"
	}
	return l, nil
}

// key is the object key of file number seq in partition folder part
// ("" or "k=v/.../").
func (l *layout) key(part string, seq int) string {
	return fmt.Sprintf("%s%s%s%05d%s", l.dir, part, l.name, seq, l.suffix)
}

func cleanPrefix(p string) (string, error) {
	var segs []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case "":
			continue
		case ".", "..":
			return "", fault.New(fault.Invalid, "s3 destination: bucketPrefix %q holds a %q segment", p, s)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == 0x7f {
				return "", fault.New(fault.Invalid, "s3 destination: bucketPrefix %q holds a control character", p)
			}
		}
		segs = append(segs, s)
	}
	return strings.Join(segs, "/"), nil
}

// partitionSegment renders one name=value folder (with the trailing slash).
func partitionSegment(sb *strings.Builder, name, value string) {
	escapeSegment(sb, name)
	sb.WriteByte('=')
	if value == "" {
		value = "null"
	}
	escapeSegment(sb, value)
	sb.WriteByte('/')
}

func escapeSegment(sb *strings.Builder, s string) {
	if s == "." || s == ".." {
		for range len(s) {
			sb.WriteString("%2E")
		}
		return
	}
	const hexd = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '%' || c == '/' || c == '\\' {
			sb.WriteByte('%')
			sb.WriteByte(hexd[c>>4])
			sb.WriteByte(hexd[c&15])
			continue
		}
		sb.WriteByte(c)
	}
}
