package s3conn

import (
	"strings"
	"testing"
	"time"
)

func TestLayoutKeys(t *testing.T) {
	run := time.Date(2024, 3, 5, 14, 7, 30, 0, time.UTC)
	const ex = "9aa00099-9943-449a-9c7a-488dbc801242"
	file := "part-00001-" + ex
	tests := []struct {
		name   string
		prefix string
		pc     *prefixConfig
		sv     int64
		part   string
		want   string
	}{
		{"no prefixConfig", "raw", nil, 1, "", "raw/sf-accounts/" + ex + "/" + file},
		{"empty prefixConfig", "raw", &prefixConfig{}, 1, "", "raw/sf-accounts/" + ex + "/" + file},
		{"no bucket prefix", "", nil, 1, "", "sf-accounts/" + ex + "/" + file},
		{"slashes in prefix collapse", "/a//b/", nil, 1, "", "a/b/sf-accounts/" + ex + "/" + file},
		{"PATH YEAR", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "YEAR"}, 1, "", "raw/sf-accounts/2024/" + file},
		{"PATH MONTH", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "MONTH"}, 1, "", "raw/sf-accounts/2024/03/" + file},
		{"PATH DAY", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "DAY"}, 1, "", "raw/sf-accounts/2024/03/05/" + file},
		{"PATH HOUR", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "HOUR"}, 1, "", "raw/sf-accounts/2024/03/05/14/" + file},
		{"PATH MINUTE", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "MINUTE"}, 1, "", "raw/sf-accounts/2024/03/05/14/07/" + file},
		{"PATH DAY + EXECUTION_ID", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "DAY", PathPrefixHierarchy: []string{"EXECUTION_ID"}}, 1, "",
			"raw/sf-accounts/2024/03/05/" + ex + "/" + file},
		{"PATH HOUR + SCHEMA_VERSION, EXECUTION_ID", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "HOUR", PathPrefixHierarchy: []string{"SCHEMA_VERSION", "EXECUTION_ID"}}, 1, "",
			"raw/sf-accounts/schemaVersion_1/2024/03/05/14/" + ex + "/" + file},
		{"hierarchy order does not move folders", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "DAY", PathPrefixHierarchy: []string{"EXECUTION_ID", "SCHEMA_VERSION"}}, 3, "",
			"raw/sf-accounts/schemaVersion_3/2024/03/05/" + ex + "/" + file},
		{"SCHEMA_VERSION only", "raw", &prefixConfig{PathPrefixHierarchy: []string{"SCHEMA_VERSION"}}, 2, "", "raw/sf-accounts/schemaVersion_2/" + file},
		{"schema version 0 is 1", "raw", &prefixConfig{PathPrefixHierarchy: []string{"SCHEMA_VERSION"}}, 0, "", "raw/sf-accounts/schemaVersion_1/" + file},
		{"FILENAME MINUTE", "raw", &prefixConfig{PrefixType: "FILENAME", PrefixFormat: "MINUTE"}, 1, "",
			"raw/sf-accounts/" + ex + "/2024-03-05T14:07-" + file},
		{"FILENAME DAY", "raw", &prefixConfig{PrefixType: "FILENAME", PrefixFormat: "DAY"}, 1, "",
			"raw/sf-accounts/" + ex + "/2024-03-05-" + file},
		{"FILENAME no format", "raw", &prefixConfig{PrefixType: "FILENAME"}, 1, "",
			"raw/sf-accounts/" + ex + "/2024-03-05T14:07:30-" + file},
		{"PATH_AND_FILENAME HOUR", "raw", &prefixConfig{PrefixType: "PATH_AND_FILENAME", PrefixFormat: "HOUR"}, 1, "",
			"raw/sf-accounts/2024/03/05/14/2024-03-05T14-" + file},
		{"PATH without format", "raw", &prefixConfig{PrefixType: "PATH"}, 1, "", "raw/sf-accounts/" + ex + "/" + file},
		{"partition folders", "raw", &prefixConfig{PrefixType: "PATH", PrefixFormat: "DAY", PathPrefixHierarchy: []string{"SCHEMA_VERSION", "EXECUTION_ID"}}, 2,
			"Industry=Energy/", "raw/sf-accounts/schemaVersion_2/2024/03/05/" + ex + "/Industry=Energy/" + file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := newLayout(tt.prefix, "sf-accounts", ex, tt.sv, run, tt.pc)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.key(tt.part, 1); got != tt.want {
				t.Errorf("key:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLayoutRejects(t *testing.T) {
	run := time.Now()
	for _, tt := range []struct {
		prefix string
		pc     *prefixConfig
		want   string
	}{
		{"a/../b", nil, `".."`},
		{"", &prefixConfig{PrefixType: "FOLDER"}, "prefixType"},
		{"", &prefixConfig{PrefixFormat: "WEEK"}, "prefixFormat"},
		{"", &prefixConfig{PathPrefixHierarchy: []string{"FLOW"}}, "pathPrefixHierarchy"},
	} {
		_, err := newLayout(tt.prefix, "f", "e", 1, run, tt.pc)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("newLayout(%q, %+v) = %v, want an error about %s", tt.prefix, tt.pc, err, tt.want)
		}
	}
}

func TestPartitionSegment(t *testing.T) {
	for _, tt := range []struct{ name, value, want string }{
		{"Industry", "Energy", "Industry=Energy/"},
		{"Account Rating", "", "Account Rating=null/"},
		{"k", "a/b", "k=a%2Fb/"},
		{"k", "50%", "k=50%25/"},
		{"k", "..", "k=%2E%2E/"},
		{"k", "line\nbreak", "k=line%0Abreak/"},
		{"k", "2024-03-05T14:07:00Z", "k=2024-03-05T14:07:00Z/"},
	} {
		var sb strings.Builder
		partitionSegment(&sb, tt.name, tt.value)
		if got := sb.String(); got != tt.want {
			t.Errorf("partitionSegment(%q, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}
