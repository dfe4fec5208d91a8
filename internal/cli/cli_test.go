package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// TestDispatch checks that the first argument picks the command, that the rest reaches it, and
// that help, no argument and an unknown name print the usage.
func TestDispatch(t *testing.T) {
	var gotArgs []string
	commands := []Command{
		{Name: "one", Summary: "the first", Run: func(_ context.Context, args []string) error { gotArgs = args; return nil }},
		{Name: "two", Summary: "the second", Run: func(context.Context, []string) error { return nil }},
	}
	tests := []struct {
		args      []string
		wantErr   string
		wantUsage bool
		wantArgs  []string
	}{
		{args: []string{"one", "-x", "y"}, wantArgs: []string{"-x", "y"}},
		{args: []string{"two"}},
		{args: nil, wantErr: "no subcommand given", wantUsage: true},
		{args: []string{"help"}, wantUsage: true},
		{args: []string{"--help"}, wantUsage: true},
		{args: []string{"three"}, wantErr: `unknown subcommand "three"`, wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			gotArgs = nil
			var out bytes.Buffer
			err := Dispatch(context.Background(), "prog", commands, tt.args, &out)
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("Dispatch(%q) error = %v, want %q", tt.args, err, tt.wantErr)
			}
			usage := out.String()
			if hasUsage := strings.Contains(usage, "Usage: prog <subcommand>"); hasUsage != tt.wantUsage {
				t.Fatalf("Dispatch(%q) printed %q, want usage %v", tt.args, usage, tt.wantUsage)
			}
			if tt.wantUsage && (!strings.Contains(usage, "one        the first") || !strings.Contains(usage, "two        the second")) {
				t.Errorf("usage does not list the commands: %q", usage)
			}
			if !slices.Equal(gotArgs, tt.wantArgs) {
				t.Errorf("command got args %q, want %q", gotArgs, tt.wantArgs)
			}
		})
	}
}
