package hdfsio

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strings"

	"github.com/colinmarc/hdfs/v2"
	krb "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// setAuth fills in how opts authenticates to the NameNodes: Kerberos when cfg
// names a client, a ticket cache or a keytab, else the simple-auth user.
// opts comes from the Hadoop configuration, so a cluster configured for
// Kerberos without credentials in cfg is an error here rather than a
// confusing refusal from the NameNode later.
// ErrAuth marks a login the cluster refused (wrong principal or key, simple
// authentication against a secured NameNode): a permission problem no
// retry or other node can fix.
var ErrAuth = fmt.Errorf("authentication refused: %w", fs.ErrPermission)

func setAuth(opts *hdfs.ClientOptions, cfg HDFSConfig) error {
	if cfg.KerberosServicePrincipal != "" {
		opts.KerberosServicePrincipleName = strings.Split(cfg.KerberosServicePrincipal, "@")[0]
	}
	kc, err := kerberosClient(cfg)
	if err != nil {
		return err
	}
	if kc != nil {
		opts.KerberosClient = kc
		if opts.KerberosServicePrincipleName == "" {
			return fmt.Errorf("hdfs://%s: Kerberos needs the NameNode principal (dfs.namenode.kerberos.principal or KerberosServicePrincipal)", cfg.Authority)
		}
	} else if opts.KerberosClient != nil {
		return fmt.Errorf("hdfs://%s: hadoop.security.authentication is kerberos: set a keytab, a ticket cache or a Kerberos client", cfg.Authority)
	}
	if opts.KerberosClient == nil {
		opts.User = cfg.User
		if opts.User == "" {
			opts.User = os.Getenv("HADOOP_USER_NAME")
		}
		if opts.User == "" {
			u, err := user.Current()
			if err != nil {
				return fmt.Errorf("hdfs: no HDFS user given and no OS user: %w", err)
			}
			opts.User = u.Username
		}
	}
	return nil
}

// kerberosClient is cfg's Kerberos client, or one logged in from its ticket
// cache or keytab; nil (and no error) when cfg names none of them.
func kerberosClient(cfg HDFSConfig) (*krb.Client, error) {
	if cfg.KerberosClient != nil {
		return cfg.KerberosClient, nil
	}
	if cfg.KerberosCCache == "" && cfg.KerberosKeytab == "" {
		return nil, nil
	}
	confPath := cfg.Krb5Conf
	if confPath == "" {
		confPath = os.Getenv("KRB5_CONFIG")
	}
	if confPath == "" {
		confPath = "/etc/krb5.conf"
	}
	kconf, err := krbconfig.Load(confPath)
	if err != nil {
		return nil, fmt.Errorf("kerberos config %s: %w", confPath, err)
	}
	if cfg.KerberosCCache != "" {
		cc, err := credentials.LoadCCache(strings.TrimPrefix(cfg.KerberosCCache, "FILE:"))
		if err != nil {
			return nil, fmt.Errorf("kerberos ticket cache %s: %w", cfg.KerberosCCache, err)
		}
		c, err := krb.NewFromCCache(cc, kconf, krb.DisablePAFXFAST(true))
		if err != nil {
			return nil, fmt.Errorf("kerberos ticket cache %s: %w", cfg.KerberosCCache, err)
		}
		return c, nil
	}
	princ, realm, ok := strings.Cut(cfg.KerberosPrincipal, "@")
	if !ok || princ == "" || realm == "" {
		return nil, fmt.Errorf("kerberos keytab %s needs KerberosPrincipal as user@REALM, got %q", cfg.KerberosKeytab, cfg.KerberosPrincipal)
	}
	kt, err := keytab.Load(cfg.KerberosKeytab)
	if err != nil {
		return nil, fmt.Errorf("kerberos keytab %s: %w", cfg.KerberosKeytab, err)
	}
	c := krb.NewWithKeytab(princ, realm, kt, kconf, krb.DisablePAFXFAST(true))
	if err := c.Login(); err != nil {
		return nil, fmt.Errorf("kerberos login as %s: %w: %w", cfg.KerberosPrincipal, ErrAuth, err)
	}
	return c, nil
}

// simpleAuthRefused explains colinmarc/hdfs's "unexpected sequence number"
// on connect without Kerberos: a Kerberos-secured NameNode answers a simple
// (user name only) connection with an error on the connection header's
// call id, which colinmarc reports only as that mismatch, dropping the
// NameNode's "SIMPLE authentication is not enabled" message.
func simpleAuthRefused(opts hdfs.ClientOptions, err error) error {
	if opts.KerberosClient != nil || err == nil || !strings.Contains(err.Error(), "unexpected sequence number") {
		return err
	}
	return fmt.Errorf("the NameNode refused simple authentication as %s (a Kerberos-secured cluster? set hadoop.security.authentication=kerberos in the Hadoop configuration, and a keytab or ticket cache): %w: %w", opts.User, ErrAuth, err)
}
