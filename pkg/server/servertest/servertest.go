// Package servertest provides what tests need to start imageflight servers:
// throwaway TLS certificates, and listen addresses free for TCP and UDP
// alike. It is for tests only.
package servertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA and one server certificate signed by it, as PEM files.
type PKI struct {
	CA, Cert, Key string         // file paths, as --tls-ca, --tls-cert, --tls-key take them
	Pool          *x509.CertPool // trusts CA, for in-process clients
}

// NewPKI writes a fresh CA and a leaf for localhost and 127.0.0.1..5 (the
// addresses tests bind) into a temporary directory of t; nothing is
// committed, and each call gives a CA no other call's clients trust.
func NewPKI(t testing.TB) PKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imageflight test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "imageflight test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}}
	for i := 1; i <= 5; i++ {
		leaf.IPAddresses = append(leaf.IPAddresses, net.IPv4(127, 0, 0, byte(i)))
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := PKI{CA: write("ca.pem", "CERTIFICATE", caDER), Cert: write("cert.pem", "CERTIFICATE", der),
		Key: write("key.pem", "PRIVATE KEY", keyDER), Pool: x509.NewCertPool()}
	p.Pool.AddCert(caCert)
	return p
}

// Flags are the server command-line flags that serve with this PKI.
func (p PKI) Flags() []string {
	return []string{"--tls-cert", p.Cert, "--tls-key", p.Key, "--tls-ca", p.CA}
}

// FreeAddr returns host:port with a port free for both TCP and UDP on host,
// because gossip (memberlist) listens on both at one address.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatalf("no free port on %s", host)
	return ""
}
