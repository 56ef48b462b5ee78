package events_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, serverCert := testPKI(t, dir)
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(),
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12},
		TLSTimeout: 2,
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	require.True(t, srv.ReadyForConnections(waitFor))
	url := srv.ClientURL() // a tls:// URL on 127.0.0.1

	t.Run("with the CA file", func(t *testing.T) {
		t.Parallel()
		conn, err := events.Connect(ctxT(t), events.Config{URL: url, TLSCAFile: caFile})
		require.NoError(t, err)
		defer func() { require.NoError(t, conn.Close()) }()
		w, err := conn.Wakeups(ctxT(t), "p")
		require.NoError(t, err)
		conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
		receive(t, w.C(), "wake-up over TLS")
	})

	t.Run("an unknown CA fails fast", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		_, err := events.Connect(ctxT(t), events.Config{URL: url, ConnectRetry: time.Minute})
		require.Error(t, err)
		require.NotErrorIs(t, err, events.ErrUnreachable)
		require.Less(t, time.Since(start), 5*time.Second)
	})

	t.Run("bad files are configuration errors", func(t *testing.T) {
		t.Parallel()
		notPEM := filepath.Join(dir, "not.pem")
		require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
		for _, cfg := range []events.Config{
			{URL: url, TLSCAFile: notPEM},
			{URL: url, TLSCertFile: notPEM, TLSKeyFile: notPEM},
		} {
			_, err := events.Connect(ctxT(t), cfg)
			require.ErrorIs(t, err, events.ErrInvalidConfig)
		}
	})
}

// testPKI writes a CA certificate to dir and returns its file and a server
// certificate for 127.0.0.1 signed by it.
func testPKI(t *testing.T, dir string) (caFile string, serverCert tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "taskfleet test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	caFile = filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
