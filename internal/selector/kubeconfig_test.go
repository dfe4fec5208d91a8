package selector

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestRESTConfigOrder checks where a selector finds the API server: the pod's service account
// wins over ~/.kube/config, and an explicit file or $KUBECONFIG wins over both. The unreadable
// home config is a directory, which clientcmd cannot read even as root (like a home directory
// of an image the user may not read), so a case that reaches it by mistake fails.
func TestRESTConfigOrder(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := func(name, server string) string {
		p := filepath.Join(dir, name)
		body := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: " + server + "}\n" +
			"users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	explicit := kubeconfig("explicit", "https://explicit:6443")
	fromEnv := kubeconfig("env", "https://env:6443")
	home := kubeconfig("home", "https://home:6443")
	unreadableHome := filepath.Join(dir, "unreadable")
	if err := os.Mkdir(unreadableHome, 0o700); err != nil {
		t.Fatal(err)
	}
	inPod := func() (*rest.Config, error) { return &rest.Config{Host: "https://10.96.0.1:443"}, nil }
	notInPod := func() (*rest.Config, error) { return nil, rest.ErrNotInCluster }
	noToken := func() (*rest.Config, error) { return nil, errors.New("open token: no such file") }
	tests := []struct {
		name      string
		explicit  string
		env       string // $KUBECONFIG
		home      string // ~/.kube/config
		inCluster func() (*rest.Config, error)
		want      string // "" means an error
	}{
		{name: "pod before an unreadable home", home: unreadableHome, inCluster: inPod, want: "https://10.96.0.1:443"},
		{name: "pod before a readable home", home: home, inCluster: inPod, want: "https://10.96.0.1:443"},
		{name: "explicit file first", explicit: explicit, home: unreadableHome, inCluster: inPod, want: "https://explicit:6443"},
		{name: "KUBECONFIG before the pod", env: fromEnv, home: unreadableHome, inCluster: inPod, want: "https://env:6443"},
		{name: "home outside a pod", home: home, inCluster: notInPod, want: "https://home:6443"},
		{name: "home when the service account cannot be read", home: home, inCluster: noToken, want: "https://home:6443"},
		{name: "unreadable home outside a pod", home: unreadableHome, inCluster: notInPod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: tt.explicit, Precedence: []string{tt.home}}
			if tt.env != "" {
				rules.Precedence = []string{tt.env}
			}
			cfg, err := restConfig(rules, tt.env != "", tt.inCluster)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("got host %q, want an error", cfg.Host)
			case tt.want == "":
			case err != nil:
				t.Fatalf("restConfig: %v", err)
			case cfg.Host != tt.want:
				t.Fatalf("host %q, want %q", cfg.Host, tt.want)
			}
		})
	}
}
