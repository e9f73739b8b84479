package spec_test

import (
	"testing"

	"github.com/gitfleet/gitfleet/spec"
)

func TestParseMemory(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1000", 1000, false},
		{"256Mi", 256 << 20, false},
		{"1Gi", 1 << 30, false},
		{"1G", 1e9, false},
		{"512M", 512e6, false},
		{"2k", 2000, false},
		{"64Ki", 64 << 10, false},
		{"1.5Gi", 3 << 29, false},
		{"0.5", 1, false}, // a fraction of a byte rounds up
		{".5Ki", 512, false},
		{"7Ei", 7 << 60, false},
		{"8Ei", 0, true}, // overflows int64
		{"0", 0, false},
		{"", 0, true},
		{"256m", 0, true},
		{"1K", 0, true},
		{"1GB", 0, true},
		{"-1Gi", 0, true},
		{"1e3", 0, true},
		{" 1Gi", 0, true},
		{"1 Gi", 0, true},
		{"Gi", 0, true},
	} {
		got, err := spec.ParseMemory(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseCPU(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0.5", 500, false},
		{"2", 2000, false},
		{"500m", 500, false},
		{"1.25", 1250, false},
		{"0.0001", 1, false}, // rounds up to a whole millicore
		{"0", 0, false},
		{"250m", 250, false},
		{"1.5m", 2, false},
		{"", 0, true},
		{"1c", 0, true},
		{"2 cores", 0, true},
		{"-1", 0, true},
		{"0.5Gi", 0, true},
		{"99999999999999999999", 0, true},
	} {
		got, err := spec.ParseCPU(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
