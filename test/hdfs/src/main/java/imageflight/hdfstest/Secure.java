package imageflight.hdfstest;

import java.io.File;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.minikdc.MiniKdc;
import org.apache.hadoop.security.UserGroupInformation;

/**
 * The secure mode of {@link MiniHDFS}: a KDC (Hadoop's MiniKdc) in this JVM,
 * principals and keytabs for the NameNode/DataNodes and a user, a krb5.conf
 * for clients, a self-signed keystore for HTTPS, and the Hadoop settings of a
 * secure cluster whose DataNodes use SASL data transfer protection instead of
 * privileged ports — the setup of Hadoop's own SaslDataTransferTestCase.
 */
final class Secure {
  static final String HOST = "localhost";
  static final String USER = "alice";
  static final String STORE_PASSWORD = "imageflight";

  final File dir;
  MiniKdc kdc;
  String realm;
  String hdfsPrincipal, httpPrincipal, userPrincipal;
  File hdfsKeytab, userKeytab, krb5conf, truststore;

  Secure(File dir) {
    this.dir = dir;
  }

  /** Starts the KDC, writes keytabs, krb5.conf and the TLS stores, and configures conf. */
  void setUp(Configuration conf, String protection) throws Exception {
    if (!dir.mkdirs() && !dir.isDirectory()) {
      throw new IOException("cannot create " + dir);
    }
    Properties kconf = MiniKdc.createConf();
    kconf.setProperty(MiniKdc.KDC_BIND_ADDRESS, "127.0.0.1");
    kdc = new MiniKdc(kconf, dir);
    kdc.start();
    realm = kdc.getRealm();

    hdfsKeytab = new File(dir, "hdfs.keytab");
    kdc.createPrincipal(hdfsKeytab, "hdfs/" + HOST, "HTTP/" + HOST);
    userKeytab = new File(dir, USER + ".keytab");
    kdc.createPrincipal(userKeytab, USER);
    hdfsPrincipal = "hdfs/" + HOST + "@" + realm;
    httpPrincipal = "HTTP/" + HOST + "@" + realm;
    userPrincipal = USER + "@" + realm;

    // krb5.conf for clients (gokrb5, MIT kinit): the KDC by IP over TCP.
    krb5conf = new File(dir, "krb5.conf");
    String k = "[libdefaults]\n"
        + "  default_realm = " + realm + "\n"
        + "  dns_lookup_realm = false\n"
        + "  dns_lookup_kdc = false\n"
        + "  rdns = false\n"
        + "  udp_preference_limit = 1\n"
        + "  ticket_lifetime = 24h\n"
        + "  forwardable = true\n"
        + "\n[realms]\n"
        + "  " + realm + " = {\n"
        + "    kdc = 127.0.0.1:" + kdc.getPort() + "\n"
        + "  }\n"
        + "\n[domain_realm]\n"
        + "  localhost = " + realm + "\n"
        + "  127.0.0.1 = " + realm + "\n";
    Files.write(krb5conf.toPath(), k.getBytes(StandardCharsets.UTF_8));

    conf.set("hadoop.security.authentication", "kerberos");
    conf.set("hadoop.security.authorization", "true");
    conf.set("dfs.namenode.kerberos.principal", hdfsPrincipal);
    conf.set("dfs.namenode.keytab.file", hdfsKeytab.getAbsolutePath());
    conf.set("dfs.datanode.kerberos.principal", hdfsPrincipal);
    conf.set("dfs.datanode.keytab.file", hdfsKeytab.getAbsolutePath());
    conf.set("dfs.web.authentication.kerberos.principal", httpPrincipal);
    conf.set("dfs.web.authentication.kerberos.keytab", hdfsKeytab.getAbsolutePath());
    conf.setBoolean("dfs.block.access.token.enable", true);
    conf.set("dfs.data.transfer.protection", protection);
    // Secure DataNodes on unprivileged ports need SASL on the data transfer
    // port and HTTPS for their web servers.
    conf.set("dfs.http.policy", "HTTPS_ONLY");
    conf.set("dfs.namenode.https-address", "127.0.0.1:0");
    conf.set("dfs.datanode.https.address", "127.0.0.1:0");
    conf.setInt("ipc.client.connect.max.retries.on.sasl", 10);
    setUpTls(conf);
    UserGroupInformation.setConfiguration(conf);
  }

  /**
   * A self-signed certificate for localhost/127.0.0.1 (keytool, from this
   * JDK), ssl-server.xml and ssl-client.xml in a folder put on the context
   * class path, where Hadoop looks for them.
   */
  private void setUpTls(Configuration conf) throws Exception {
    File ssl = new File(dir, "ssl");
    if (!ssl.mkdirs() && !ssl.isDirectory()) {
      throw new IOException("cannot create " + ssl);
    }
    File keystore = new File(ssl, "server.jks");
    truststore = new File(ssl, "trust.jks");
    File cert = new File(ssl, "server.crt");
    keytool("-genkeypair", "-alias", "server", "-keyalg", "RSA", "-keysize", "2048",
        "-validity", "30", "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1",
        "-keystore", keystore.getPath(), "-storetype", "JKS",
        "-storepass", STORE_PASSWORD, "-keypass", STORE_PASSWORD);
    keytool("-exportcert", "-alias", "server", "-keystore", keystore.getPath(),
        "-storepass", STORE_PASSWORD, "-rfc", "-file", cert.getPath());
    keytool("-importcert", "-noprompt", "-alias", "server", "-file", cert.getPath(),
        "-keystore", truststore.getPath(), "-storetype", "JKS", "-storepass", STORE_PASSWORD);

    Configuration server = new Configuration(false);
    server.set("ssl.server.keystore.location", keystore.getAbsolutePath());
    server.set("ssl.server.keystore.password", STORE_PASSWORD);
    server.set("ssl.server.keystore.keypassword", STORE_PASSWORD);
    server.set("ssl.server.keystore.type", "jks");
    server.set("ssl.server.truststore.location", truststore.getAbsolutePath());
    server.set("ssl.server.truststore.password", STORE_PASSWORD);
    server.set("ssl.server.truststore.type", "jks");
    Configuration client = new Configuration(false);
    client.set("ssl.client.truststore.location", truststore.getAbsolutePath());
    client.set("ssl.client.truststore.password", STORE_PASSWORD);
    client.set("ssl.client.truststore.type", "jks");
    File cp = new File(ssl, "classpath");
    if (!cp.mkdirs() && !cp.isDirectory()) {
      throw new IOException("cannot create " + cp);
    }
    try (var out = Files.newOutputStream(new File(cp, "imageflight-ssl-server.xml").toPath())) {
      server.writeXml(out);
    }
    try (var out = Files.newOutputStream(new File(cp, "imageflight-ssl-client.xml").toPath())) {
      client.writeXml(out);
    }
    // Hadoop loads these as class path resources through the thread's
    // context class loader; threads started later inherit it.
    Thread.currentThread().setContextClassLoader(new URLClassLoader(
        new URL[] {cp.toURI().toURL()}, Thread.currentThread().getContextClassLoader()));
    conf.set("dfs.https.server.keystore.resource", "imageflight-ssl-server.xml");
    conf.set("dfs.client.https.keystore.resource", "imageflight-ssl-client.xml");
    conf.set("hadoop.ssl.server.conf", "imageflight-ssl-server.xml");
    conf.set("hadoop.ssl.client.conf", "imageflight-ssl-client.xml");
  }

  private static void keytool(String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(new File(System.getProperty("java.home"), "bin/keytool").getPath());
    for (String a : args) { cmd.add(a); }
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (p.waitFor() != 0) {
      throw new IOException("keytool " + args[0] + ": " + new String(out, StandardCharsets.UTF_8));
    }
  }

  /** The JSON object the READY line carries under "kerberos". */
  String json(String protection) {
    return "{\"realm\":\"" + realm + "\",\"kdc\":\"127.0.0.1:" + kdc.getPort() + "\""
        + ",\"krb5conf\":" + str(krb5conf.getAbsolutePath())
        + ",\"hdfsPrincipal\":\"" + hdfsPrincipal + "\""
        + ",\"hdfsKeytab\":" + str(hdfsKeytab.getAbsolutePath())
        + ",\"userPrincipal\":\"" + userPrincipal + "\""
        + ",\"userKeytab\":" + str(userKeytab.getAbsolutePath())
        + ",\"truststore\":" + str(truststore.getAbsolutePath())
        + ",\"protection\":\"" + protection + "\"}";
  }

  private static String str(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  void stop() {
    if (kdc != null) {
      try { kdc.stop(); } catch (Throwable e) { e.printStackTrace(); }
    }
  }
}
