package event

import (
	"testing"
	"time"
)

// referenceCreateTime is what parseCreateTime replaced.
func referenceCreateTime(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range providerTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func zones(t testing.TB) []*time.Location {
	var out []*time.Location
	for _, name := range []string{"UTC", "Asia/Shanghai", "America/New_York", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, loc)
	}
	return out
}

func assertSameTime(t *testing.T, s string, loc *time.Location) {
	t.Helper()
	got, gotOK := parseCreateTime(s, loc)
	want, wantOK := referenceCreateTime(s, loc)
	if gotOK != wantOK || !got.Equal(want) || got.Location() != want.Location() {
		t.Fatalf("%q in %s: got %v %v, time.ParseInLocation %v %v", s, loc, got, gotOK, want, wantOK)
	}
}

func TestParseCreateTimeMatchesTime(t *testing.T) {
	inputs := []string{
		"2025-01-01 00:00:00", "2024-02-29 12:34:56", "2025-02-29 12:34:56", "2025-04-31 00:00:00",
		"2025-12-31 23:59:59", "2025-13-01 00:00:00", "2025-00-10 00:00:00", "2025-01-00 00:00:00",
		"2025-01-01 24:00:00", "2025-01-01 23:60:00", "2025-01-01 23:59:60", "0000-01-01 00:00:00",
		"9999-12-31 23:59:59", "2025-01-01 5:04:05", "2025-01-01 00:00:00.123", "2025-01-01T00:00:00Z",
		"2025-01-01T08:00:00+08:00", "2025-1-01 00:00:00", "2025-01-01 00:00:0x", "+025-01-01 00:00:00",
		"2025/01/01 00:00:00", "", "2025-03-09 02:30:00", "2025-11-02 01:30:00", "2025-10-05 02:15:00",
	}
	for _, loc := range zones(t) {
		for _, s := range inputs {
			assertSameTime(t, s, loc)
		}
	}
}

func FuzzParseCreateTime(f *testing.F) {
	f.Add("2025-01-01 00:00:00")
	f.Add("2024-02-29 23:59:59")
	f.Add("2025-03-09 02:30:00")
	locs := zones(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, loc := range locs {
			assertSameTime(t, s, loc)
		}
	})
}
