package fetcher

import "testing"

func TestParseHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in          string
		name, value string
		ok          bool
	}{
		{"X-Test: yes", "X-Test", "yes", true},
		{"Accept:text/html", "Accept", "text/html", true},
		{"X-Empty:", "X-Empty", "", true},
		{"Authorization: Bearer a:b:c ", "Authorization", "Bearer a:b:c", true},
		{"X-Tab: a\tb", "X-Tab", "a\tb", true},
		{"no colon", "", "", false},
		{": value", "", "", false},
		{"Bad Name: x", "", "", false},
		{"X-Smuggle: a\r\nEvil: b", "", "", false},
		{"X-Nul: a\x00", "", "", false},
		{"Nämé: x", "", "", false},
	}
	for _, tt := range tests {
		name, value, err := ParseHeader(tt.in)
		if (err == nil) != tt.ok || name != tt.name || value != tt.value {
			t.Errorf("ParseHeader(%q) = %q, %q, %v; want %q, %q, ok %v", tt.in, name, value, err, tt.name, tt.value, tt.ok)
		}
	}
}
