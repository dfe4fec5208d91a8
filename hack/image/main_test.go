package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the pause program statically, packs it, and reads the tarball back as
// `docker load` would: the entrypoint, user, labels and environment of the config, and the files
// of the layer with their modes and owners.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./pause")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "pause.tar")
	err := run([]string{"-tag", "localhost/test/pause:1", "-o", out, "-binary", bin + ":/pause", "-ca", ca,
		"-label", "org.opencontainers.image.source=https://example.com/src", "-label", "org.opencontainers.image.version=1"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/pause" {
		t.Errorf("entrypoint %q", got)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q", cfg.Config.User)
	}
	if cfg.Config.Labels["org.opencontainers.image.source"] != "https://example.com/src" || cfg.Config.Labels["org.opencontainers.image.version"] != "1" {
		t.Errorf("labels %v", cfg.Config.Labels)
	}
	if env := strings.Join(cfg.Config.Env, " "); !strings.Contains(env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") || !strings.Contains(env, "HOME=/home/nonroot") {
		t.Errorf("env %v", cfg.Config.Env)
	}
	if cfg.OS != "linux" || cfg.Created.Unix() != 0 {
		t.Errorf("os %q created %v", cfg.OS, cfg.Created)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	type entry struct {
		mode int64
		uid  int
	}
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = entry{h.Mode, h.Uid}
	}
	for name, want := range map[string]entry{
		"pause":                             {0o755, 0},
		"tmp/":                              {0o1777, 0},
		"home/nonroot/":                     {0o700, 65532},
		"etc/passwd":                        {0o644, 0},
		"etc/ssl/certs/ca-certificates.crt": {0o644, 0},
	} {
		if got, ok := files[name]; !ok || got != want {
			t.Errorf("%s: %+v (present %v), want %+v", name, got, ok, want)
		}
	}
}

// TestDynamicBinaryRefused checks that a binary needing a dynamic loader is not packed: the image
// has no libc, so it could not start.
func TestDynamicBinaryRefused(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	sh, _ = filepath.EvalSymlinks(sh)
	out := filepath.Join(t.TempDir(), "x.tar")
	err = run([]string{"-tag", "localhost/x:1", "-o", out, "-binary", sh + ":/sh"})
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("error %v, want dynamically linked", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a tarball was written: %v", err)
	}
}
