package hdfstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	krb "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Login logs principal (user@REALM or service/host@REALM) in from keytab
// with gokrb5, against the cluster's KDC.
func (k *Kerberos) Login(principal, keytabPath string) (*krb.Client, error) {
	conf, err := krbconfig.Load(k.Krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("hdfstest: %s: %w", k.Krb5Conf, err)
	}
	kt, err := keytab.Load(keytabPath)
	if err != nil {
		return nil, fmt.Errorf("hdfstest: %s: %w", keytabPath, err)
	}
	name, realm, _ := strings.Cut(principal, "@")
	cl := krb.NewWithKeytab(name, realm, kt, conf, krb.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		return nil, fmt.Errorf("hdfstest: kerberos login as %s: %w", principal, err)
	}
	return cl, nil
}

// Kinit runs MIT kinit (Debian package krb5-user) to log principal in from
// keytab into a new ticket cache in dir, and returns the cache's path.
func (k *Kerberos) Kinit(dir, principal, keytabPath string) (string, error) {
	bin, err := exec.LookPath("kinit")
	if err != nil {
		return "", fmt.Errorf("hdfstest: kinit not found (apt-get install -y krb5-user): %w", err)
	}
	cc := filepath.Join(dir, "krb5cc_"+strings.NewReplacer("/", "_", "@", "_").Replace(principal))
	cmd := exec.Command(bin, "-k", "-t", keytabPath, principal)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5CCNAME=FILE:"+cc)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("hdfstest: kinit %s: %v\n%s", principal, err, out)
	}
	return cc, nil
}
