package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
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

// TestParseFlags binds, parses, and reports -h and unknown flags.
func TestParseFlags(t *testing.T) {
	var n int
	bind := func(fs *flag.FlagSet) { fs.SetOutput(io.Discard); fs.IntVar(&n, "n", 1, "a number") }
	for _, tt := range []struct {
		args    []string
		want    int
		wantErr error
	}{
		{args: nil, want: 1},
		{args: []string{"-n", "7"}, want: 7},
		{args: []string{"-h"}, want: 1, wantErr: flag.ErrHelp},
	} {
		n = 0
		fs, err := ParseFlags("cmd", tt.args, bind)
		if !errors.Is(err, tt.wantErr) || n != tt.want || fs.Name() != "cmd" {
			t.Errorf("ParseFlags(%q) = %v with n=%d, want %v with n=%d", tt.args, err, n, tt.wantErr, tt.want)
		}
	}
	if _, err := ParseFlags("cmd", []string{"-x"}, bind); err == nil {
		t.Error("an unknown flag was accepted")
	}
}
