// Command image writes a container image as a tarball that `docker load`, `podman load` and
// `ctr images import` read, from files on this machine and without a container engine or a
// registry. `make images` uses it for the manager, selector and pause images; the content matches
// the Dockerfile's targets: one static binary as the entrypoint, the non-root user 65532, a CA
// bundle for HTTPS, a writable /tmp and OCI labels.
//
//	image -tag ghcr.io/promptfolio/promptfolio:0.1.0 -o bin/images/manager.tar \
//	  -binary bin/static/promptfolio:/promptfolio -ca /etc/ssl/certs/ca-certificates.crt \
//	  -label org.opencontainers.image.source=https://github.com/promptfolio/promptfolio
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nonroot is the user the images run as, the same id and name as distroless's nonroot.
const (
	nonrootUID  = 65532
	nonrootName = "nonroot"
	nonrootHome = "/home/nonroot"
)

// spec is what one image holds.
type spec struct {
	tag        string
	out        string
	binary     string // source path on this machine
	entrypoint string // path in the image
	caBundle   string // source path; empty: none
	labels     map[string]string
	created    time.Time
	user       int
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	var s spec
	var binary string
	s.labels = map[string]string{}
	fs.StringVar(&s.tag, "tag", "", "image reference the tarball names, e.g. ghcr.io/promptfolio/promptfolio:0.1.0 (required)")
	fs.StringVar(&s.out, "o", "", "tarball to write (required)")
	fs.StringVar(&binary, "binary", "", "SRC:DST, the static binary at SRC copied to DST in the image, which is the entrypoint (required)")
	fs.StringVar(&s.caBundle, "ca", "", "CA bundle copied to /etc/ssl/certs/ca-certificates.crt (empty: none)")
	fs.IntVar(&s.user, "user", nonrootUID, "numeric user and group id the image runs as")
	fs.Func("label", "KEY=VALUE, an OCI label; repeatable", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("label %q is not KEY=VALUE", kv)
		}
		s.labels[k] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, dst, ok := strings.Cut(binary, ":")
	if s.tag == "" || s.out == "" || !ok || src == "" || !path.IsAbs(dst) {
		fs.Usage()
		return errors.New("-tag, -o and -binary SRC:/DST are required")
	}
	s.binary, s.entrypoint = src, dst
	s.created = time.Unix(0, 0).UTC()
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
		}
		s.created = time.Unix(sec, 0).UTC()
	}
	return write(s)
}

// write builds the image of s and writes it to s.out.
func write(s spec) error {
	ref, err := name.ParseReference(s.tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", s.tag, err)
	}
	layerTar, err := rootfs(s)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil })
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: s.created}, CreatedBy: "hack/image", Comment: "static binary " + s.entrypoint},
	})
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Created = v1.Time{Time: s.created}
	id := strconv.Itoa(s.user)
	cfg.Config = v1.Config{
		Entrypoint: []string{s.entrypoint},
		User:       id + ":" + id,
		WorkingDir: "/",
		Env:        env(s),
		Labels:     s.labels,
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(path.Dir(s.out), 0o755); err != nil {
		return err
	}
	tmp := s.out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return fmt.Errorf("writing %s: %w", s.out, err)
	}
	if err := os.Rename(tmp, s.out); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("image: %s %s -> %s\n", s.tag, digest, s.out)
	return nil
}

// env is the image's environment: a PATH, the CA bundle for Go's TLS and a home directory that
// exists, so that nothing looks for files under a directory the user cannot read.
func env(s spec) []string {
	e := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + nonrootHome}
	if s.caBundle != "" {
		e = append(e, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
	}
	return e
}

// rootfs returns the one layer of the image: the directories, /etc/passwd and /etc/group naming
// the non-root user, the CA bundle and the binary.
func rootfs(s spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: s.created})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: s.created}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "etc", "etc/ssl", "etc/ssl/certs", "home", "usr", "usr/bin", "usr/local", "usr/local/bin", "var", "var/run"} {
		if err := dir(d, 0o755, 0); err != nil {
			return nil, err
		}
	}
	// /tmp is writable by everyone, sticky, as in any image; the chart still mounts an emptyDir
	// there because the root filesystem is read-only in pods.
	if err := dir("tmp", 0o1777, 0); err != nil {
		return nil, err
	}
	if err := dir(strings.TrimPrefix(nonrootHome, "/"), 0o700, s.user); err != nil {
		return nil, err
	}
	id := strconv.Itoa(s.user)
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" + nonrootName + ":x:" + id + ":" + id + ":" + nonrootName + ":" + nonrootHome + ":/sbin/nologin\n"
	group := "root:x:0:\n" + nonrootName + ":x:" + id + ":\n"
	if err := file("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	if s.caBundle != "" {
		ca, err := os.ReadFile(s.caBundle)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		if err := file("etc/ssl/certs/ca-certificates.crt", 0o644, ca); err != nil {
			return nil, err
		}
	}
	bin, err := os.ReadFile(s.binary)
	if err != nil {
		return nil, fmt.Errorf("binary: %w", err)
	}
	if err := staticELF(bin); err != nil {
		return nil, fmt.Errorf("%s: %w", s.binary, err)
	}
	for _, d := range parents(s.entrypoint) {
		if err := dir(d, 0o755, 0); err != nil {
			return nil, err
		}
	}
	if err := file(strings.TrimPrefix(s.entrypoint, "/"), 0o755, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parents lists the directories above p that rootfs does not already create, outermost first.
func parents(p string) []string {
	known := map[string]bool{"": true, "bin": true, "etc": true, "home": true, "usr": true, "usr/bin": true, "usr/local": true, "usr/local/bin": true, "var": true, "tmp": true}
	var out []string
	d := strings.TrimPrefix(path.Dir(p), "/")
	for ; !known[d] && d != "." && d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// staticELF returns an error unless bin is an ELF executable without a dynamic loader: the image
// has no libc, so a dynamically linked binary would fail to start with a confusing "no such file".
func staticELF(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (build it with CGO_ENABLED=0)")
		}
	}
	return nil
}
