// Command gensecrets makes the compose stack's secrets, once, into an
// untracked directory (deploy/secrets, in .gitignore): an NKey user per role
// of deploy/security/permissions.conf, a private CA, the nodes' certificate
// and a client certificate per role. `make up` runs it; docs/compose.md
// lists the files.
//
//	go run ./deploy/gensecrets -dir deploy/secrets
//
// It does nothing when the directory already holds every file and its
// certificates are valid for another week; otherwise it makes all of them
// again, in a new directory renamed into place, so a reader never sees half
// a set. The CA's private key is used to sign and then dropped: nothing
// more can be signed with it, and a new set replaces the whole directory.
// The seeds and private keys are written 0600; the users' public keys go to
// nkeys.env (public, safe to show), which the Makefile hands to compose for
// deploy/security/server.conf.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// roles are the users of deploy/security/permissions.conf.
var roles = []string{"admin", "producer", "worker"}

// nodeNames are the names the nodes are reached by: the compose services
// (clients in the network, and the routes) and the loopback addresses
// their client ports are published on.
var (
	nodeNames = []string{"n1", "n2", "n3", "localhost"}
	nodeIPs   = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
)

const (
	validity = 365 * 24 * time.Hour
	renewal  = 7 * 24 * time.Hour // a set closer than this to expiring is made again
)

func main() {
	dir := flag.String("dir", "deploy/secrets", "directory of the secrets")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gensecrets:", err)
		os.Exit(1)
	}
}

// files is every file of a complete set.
func files() []string {
	fs := []string{"ca.pem", "server-cert.pem", "server-key.pem", "nkeys.env"}
	for _, r := range roles {
		fs = append(fs, r+".nk", r+"-cert.pem", r+"-key.pem")
	}
	return fs
}

func run(dir string) error {
	if complete(dir) {
		return nil
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".secrets-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	if err := generate(tmp); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		if complete(dir) { // another make up made it meanwhile
			return nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if complete(dir) {
			return nil
		}
		return err
	}
	fmt.Printf("gensecrets: made NKeys for %s, a CA and certificates in %s\n", strings.Join(roles, ", "), dir)
	return nil
}

// complete reports whether dir holds a whole set whose certificates are
// good for longer than renewal.
func complete(dir string) bool {
	for _, f := range files() {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	for _, f := range []string{"ca.pem", "server-cert.pem"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return false
		}
		b, _ := pem.Decode(data)
		if b == nil {
			return false
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil || time.Until(c.NotAfter) < renewal {
			return false
		}
	}
	return true
}

func generate(dir string) error {
	var env bytes.Buffer
	env.WriteString("# The users' public NKeys for deploy/security/server.conf: public, safe to show.\n")
	for _, r := range roles {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return err
		}
		seed, err := kp.Seed()
		if err != nil {
			return err
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, r+".nk"), append(seed, '\n'), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&env, "JETPOOL_%s_NKEY=%s\n", strings.ToUpper(r), pub)
	}
	if err := os.WriteFile(filepath.Join(dir, "nkeys.env"), env.Bytes(), 0o644); err != nil {
		return err
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "jetpool compose CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}

	issue := func(name string, server bool) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: "jetpool " + name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(validity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if server {
			// Routes: each node is the server of some and the client of
			// others, so the nodes' certificate has both usages.
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
			tmpl.DNSNames, tmpl.IPAddresses = nodeNames, nodeIPs
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, name+"-cert.pem"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		return writePEM(filepath.Join(dir, name+"-key.pem"), "PRIVATE KEY", keyDER, 0o600)
	}
	if err := issue("server", true); err != nil {
		return err
	}
	for _, r := range roles {
		if err := issue(r, false); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if data == nil {
		return errors.New("encoding " + path)
	}
	return os.WriteFile(path, data, mode)
}
