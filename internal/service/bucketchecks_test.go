package service

import "testing"

func TestBucketNameRules(t *testing.T) {
	for name, ok := range map[string]bool{
		"abc": true, "my-bucket.logs": true, "a1-b2": true, strings63("a"): true,
		"ab": false, "a": false, strings63("a") + "b": false, "UPPER": false, "under_score": false,
		"-start": false, "end-": false, ".dot": false, "a..b": false, "192.168.1.1": false, "../x": false,
		"xn--bucket": false, "sthree-x": false, "amzn-s3-demo-x": false, "x-s3alias": false, "x--ol-s3": false,
		"x.mrap": false, "x--x-s3": false, "x--table-s3": false, "with space": false,
	} {
		if got := bucketNameProblem(name) == ""; got != ok {
			t.Errorf("bucket name %q: accepted = %v, want %v (%s)", name, got, ok, bucketNameProblem(name))
		}
	}
	for prefix, ok := range map[string]bool{
		"": true, "in": true, "a/b/c": true, "a/": true, "dots.in.name/..x": true,
		"..": false, "../x": false, "a/./b": false, "a/..": false, "tab\there": false,
	} {
		if got := bucketPrefixProblem(prefix) == ""; got != ok {
			t.Errorf("bucket prefix %q: accepted = %v, want %v", prefix, got, ok)
		}
	}
}

func strings63(c string) string {
	s := ""
	for len(s) < 63 {
		s += c
	}
	return s
}
