package selector

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/promptfolio/promptfolio/api/v1alpha1"
)

// Keys of the decision-key Secret's data.
const (
	// SecretKeyCurrent signs new decisions.
	SecretKeyCurrent = "key"
	// SecretKeyPrevious, when present, still verifies decisions for the rotation grace period.
	SecretKeyPrevious = "previous-key"
)

// KeySecretName returns the name of the Secret holding a portfolio's decision keys.
func KeySecretName(portfolio string) string {
	return portfolio + "-decision-key"
}

// readKeyFile reads a key file: raw bytes, or base64 text, of at least MinKeyBytes. A trailing
// newline is ignored. Errors never include the key.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading decision key file: %w", err)
	}
	return decodeKey(b)
}

// decodeKey accepts a base64 (standard or URL alphabet) text or raw bytes.
func decodeKey(b []byte) ([]byte, error) {
	text := bytes.TrimSpace(b)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(string(text)); err == nil && len(k) >= MinKeyBytes {
			return k, nil
		}
	}
	if len(text) >= MinKeyBytes {
		return text, nil
	}
	return nil, errors.New("decision key is shorter than 32 bytes")
}

// watchKeyFile loads the key file into ring every interval until ctx ends. A changed file rotates
// the key: the old key verifies for the keyring's grace period.
func watchKeyFile(ctx context.Context, path string, ring *Keyring, interval time.Duration) {
	logger := logr.FromContextOrDiscard(ctx).WithValues("file", path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k, err := readKeyFile(path)
		if err == nil {
			err = ring.Set(k, nil, time.Now())
		}
		if err != nil {
			logger.Error(err, "could not reload the decision key; the loaded key stays in use")
		}
	}
}

// secretKeys loads (and on first use creates) the decision-key Secret of a portfolio.
type secretKeys struct {
	kube *kubeClient
}

// load reads the portfolio's Secret into ring, creating it with a random key when it does not
// exist. The Secret is owned by the PromptPortfolio when that exists, so it goes with it.
func (s *secretKeys) load(ctx context.Context, portfolio string, ring *Keyring) error {
	name := KeySecretName(portfolio)
	sec, err := s.kube.getSecret(ctx, name)
	if apierrors.IsNotFound(err) {
		if err = s.create(ctx, portfolio); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating decision key Secret %s: %w", name, err)
		}
		sec, err = s.kube.getSecret(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("reading decision key Secret %s: %w", name, err)
	}
	cur := sec.Data[SecretKeyCurrent]
	prev := sec.Data[SecretKeyPrevious]
	if len(prev) == 0 {
		prev = nil
	}
	if err := ring.Set(cur, prev, time.Now()); err != nil {
		return fmt.Errorf("decision key Secret %s: %w", name, err)
	}
	return nil
}

func (s *secretKeys) create(ctx context.Context, portfolio string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	sec := &secret{
		Metadata: metav1.ObjectMeta{
			Name:      KeySecretName(portfolio),
			Namespace: s.kube.namespace,
			Labels:    map[string]string{PortfolioLabel: portfolio, "app.kubernetes.io/component": "selector"},
		},
		Type: "Opaque",
		Data: map[string][]byte{SecretKeyCurrent: k},
	}
	if pf, err := s.kube.getPortfolio(ctx, portfolio); err == nil {
		sec.Metadata.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "PromptPortfolio", Name: pf.Name, UID: pf.UID,
		}}
	}
	return s.kube.createSecret(ctx, sec)
}

// watch keeps ring in step with the Secret until ctx ends: it retries quickly until the key is
// loaded, then rereads it every interval so that a rotation reaches this process.
func (s *secretKeys) watch(ctx context.Context, portfolio string, ring *Keyring, interval time.Duration) {
	logger := logr.FromContextOrDiscard(ctx).WithValues("portfolio", portfolio, "secret", KeySecretName(portfolio))
	retry := 200 * time.Millisecond
	for {
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return s.load(ctx, portfolio, ring)
		}()
		wait := interval
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Error(err, "could not load the decision key")
			if !ring.Ready() {
				wait = retry
				retry = min(2*retry, interval)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
