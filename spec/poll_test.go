package spec_test

import (
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/spec"
)

func TestCheckHeadURL(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want string // "" for valid, else a part of the error
	}{
		{"https://heads.example.com/plant-1/main", ""},
		{"http://127.0.0.1:8080/fleet/main.head", ""},
		{"https://bucket.s3.example.com/heads/main?x-id=GetObject", ""},
		{"", "required"},
		{"ftp://heads.example.com/main", "http or https"},
		{"heads.example.com/main", "http or https"},
		{"https:///main", "host"},
		{"https://token@heads.example.com/main", "credentials"},
		{"https://heads.example.com/main#x", "fragment"},
	} {
		err := spec.CheckHeadURL(tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckHeadURL(%q) = %v, want ok", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckHeadURL(%q) = %v, want an error about %s", tt.url, err, tt.want)
		}
	}
}
