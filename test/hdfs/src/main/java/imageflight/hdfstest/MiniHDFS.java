package imageflight.hdfstest;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.server.datanode.DataNode;

/**
 * A real HDFS (one NameNode, N DataNodes) in this JVM, on 127.0.0.1 only,
 * driven over stdin/stdout so a test harness can fail parts of it.
 *
 * <pre>
 * java imageflight.hdfstest.MiniHDFS -basedir DIR [-datanodes 2] [-replication 2]
 *      [-nnport 0] [-httpport 0] [-writeConfig FILE] [-secure PROTECTION] [-D key=value ...]
 * </pre>
 *
 * {@code -secure authentication|integrity|privacy} starts a KDC in this JVM
 * and a Kerberos-secured cluster whose DataNodes use that
 * dfs.data.transfer.protection (see {@link Secure}); the READY line then
 * carries a {@code "kerberos"} object (realm, KDC, krb5.conf, principals and
 * keytabs) and the NameNode's {@code "https"} address instead of "http".
 *
 * Protocol (one line each way; logs go to stderr):
 * <ul>
 * <li>on start: {@code READY {json}} once the NameNode is out of safe mode and
 *     every DataNode has registered, or {@code FAILED message} then exit 1;</li>
 * <li>commands: {@code stopDataNode I}, {@code restartDataNode I},
 *     {@code stopNameNode}, {@code restartNameNode}, {@code info},
 *     {@code protection P [CIPHER_SUITES]} (secure mode: restart every
 *     DataNode with dfs.data.transfer.protection P and
 *     dfs.encrypt.data.transfer.cipher.suites, "-" for none),
 *     {@code shutdown}; each answered by {@code OK ...} or {@code ERR ...};</li>
 * <li>end of stdin (the harness died) shuts the cluster down too.</li>
 * </ul>
 */
public final class MiniHDFS {
  private MiniHDFS() {}

  public static void main(String[] args) throws Exception {
    // stdout is the control channel: keep Hadoop's chatter off it.
    PrintStream ctl = new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), true,
        StandardCharsets.UTF_8);
    System.setOut(System.err);

    String basedir = null, writeConfig = null, secureProtection = null;
    int datanodes = 2, replication = -1, nnport = 0, httpport = 0;
    Configuration conf = new Configuration();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "-basedir": basedir = args[++i]; break;
        case "-datanodes": datanodes = Integer.parseInt(args[++i]); break;
        case "-replication": replication = Integer.parseInt(args[++i]); break;
        case "-nnport": nnport = Integer.parseInt(args[++i]); break;
        case "-httpport": httpport = Integer.parseInt(args[++i]); break;
        case "-writeConfig": writeConfig = args[++i]; break;
        case "-secure": secureProtection = args[++i]; break;
        case "-D": {
          String kv = args[++i];
          int eq = kv.indexOf('=');
          if (eq < 0) { fail(ctl, "bad -D " + kv); }
          conf.set(kv.substring(0, eq), kv.substring(eq + 1));
          break;
        }
        default: fail(ctl, "unknown flag " + a);
      }
    }
    if (basedir == null) { fail(ctl, "-basedir is required"); }
    protection = secureProtection;
    if (replication < 0) { replication = Math.min(datanodes, 3); }

    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, basedir);
    conf.setInt("dfs.replication", replication);
    // Loopback only, quick to start and to notice failures.
    conf.setIfUnset("dfs.namenode.rpc-bind-host", "127.0.0.1");
    conf.setIfUnset("dfs.namenode.http-address", "127.0.0.1:" + httpport);
    conf.setIfUnset("dfs.namenode.https-address", "127.0.0.1:0");
    conf.setIfUnset("dfs.namenode.secondary.http-address", "127.0.0.1:0");
    conf.setIfUnset("dfs.datanode.hostname", "127.0.0.1");
    conf.setIfUnset("dfs.datanode.address", "127.0.0.1:0");
    conf.setIfUnset("dfs.datanode.http.address", "127.0.0.1:0");
    conf.setIfUnset("dfs.datanode.ipc.address", "127.0.0.1:0");
    conf.setIfUnset("dfs.webhdfs.enabled", "true");
    conf.setIfUnset("dfs.namenode.safemode.extension", "0");
    conf.setIfUnset("dfs.heartbeat.interval", "1");
    conf.setIfUnset("dfs.namenode.heartbeat.recheck-interval", "3000");
    conf.setIfUnset("dfs.permissions.enabled", "true");
    conf.setIfUnset("dfs.namenode.fs-limits.min-block-size", "1024");

    MiniDFSCluster cluster;
    long t0 = System.nanoTime();
    if (secureProtection != null) {
      secure = new Secure(new File(basedir, "kerberos"));
      try {
        secure.setUp(conf, secureProtection);
      } catch (Throwable e) {
        e.printStackTrace();
        secure.stop();
        fail(ctl, "kerberos setup: " + e);
        return;
      }
    }
    try {
      cluster = new MiniDFSCluster.Builder(conf, new File(basedir))
          .numDataNodes(datanodes)
          .nameNodePort(nnport)
          .nameNodeHttpPort(httpport)
          .format(true)
          .build();
      cluster.waitClusterUp();
      cluster.waitActive();
      cluster.getNameNodeRpc().setSafeMode(
          org.apache.hadoop.hdfs.protocol.HdfsConstants.SafeModeAction.SAFEMODE_LEAVE, false);
    } catch (Throwable e) {
      e.printStackTrace();
      if (secure != null) { secure.stop(); }
      fail(ctl, "start: " + e);
      return;
    }
    if (writeConfig != null) {
      // MiniDFSCluster records "localhost:port"; clients get the address
      // everything is bound to.
      Configuration client = new Configuration(cluster.getConfiguration(0));
      String nn = "127.0.0.1:" + cluster.getNameNodePort(0);
      client.set("fs.defaultFS", "hdfs://" + nn);
      client.set("dfs.namenode.rpc-address", nn);
      if (cluster.getNameNode(0).getHttpAddress() != null) {
        client.set("dfs.namenode.http-address",
            "127.0.0.1:" + cluster.getNameNode(0).getHttpAddress().getPort());
      }
      if (cluster.getNameNode(0).getHttpsAddress() != null) {
        client.set("dfs.namenode.https-address",
            "127.0.0.1:" + cluster.getNameNode(0).getHttpsAddress().getPort());
      }
      try (OutputStream out = new FileOutputStream(writeConfig)) {
        client.writeXml(out);
      }
    }
    long ms = (System.nanoTime() - t0) / 1_000_000;
    ctl.println("READY " + info(cluster, ms));

    final MiniDFSCluster c = cluster;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> quietShutdown(c)));

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    // MiniDFSCluster renumbers its DataNode list when one stops; we keep the
    // numbering of the start (0..N-1) and stop by transfer address.
    List<MiniDFSCluster.DataNodeProperties> stopped = new ArrayList<>();
    for (int i = 0; i < datanodes; i++) { stopped.add(null); }
    xferAddrs = new ArrayList<>();
    for (DataNode dn : cluster.getDataNodes()) { xferAddrs.add(dn.getDatanodeId().getXferAddr()); }
    String line;
    while ((line = in.readLine()) != null) {
      String[] f = line.trim().split("\\s+");
      if (f.length == 0 || f[0].isEmpty()) { continue; }
      try {
        switch (f[0]) {
          case "stopDataNode": {
            int i = dataNodeIndex(f);
            if (stopped.get(i) != null) { throw new IllegalStateException("DataNode " + i + " is already stopped"); }
            MiniDFSCluster.DataNodeProperties p = cluster.stopDataNode(xferAddrs.get(i));
            if (p == null) { throw new IllegalStateException("DataNode " + i + " not found"); }
            stopped.set(i, p);
            ctl.println("OK stopped DataNode " + i);
            break;
          }
          case "restartDataNode": {
            int i = dataNodeIndex(f);
            MiniDFSCluster.DataNodeProperties p = stopped.get(i);
            if (p == null) { throw new IllegalStateException("DataNode " + i + " is not stopped"); }
            cluster.restartDataNode(p, true);
            stopped.set(i, null);
            cluster.waitActive();
            ctl.println("OK restarted DataNode " + i);
            break;
          }
          case "stopNameNode":
            cluster.shutdownNameNode(0);
            ctl.println("OK stopped NameNode");
            break;
          case "restartNameNode":
            cluster.restartNameNode(0, true);
            ctl.println("OK restarted NameNode");
            break;
          case "protection": {
            if (secure == null) { throw new IllegalStateException("protection needs -secure"); }
            if (f.length < 2) { throw new IllegalArgumentException("protection needs a level"); }
            String suites = f.length > 2 && !f[2].equals("-") ? f[2] : null;
            for (int i = 0; i < xferAddrs.size(); i++) {
              if (stopped.get(i) != null) { throw new IllegalStateException("DataNode " + i + " is stopped"); }
            }
            // Find them all first: a restarted DataNode has no id until it registers.
            List<DataNode> dns = new ArrayList<>();
            for (int i = 0; i < xferAddrs.size(); i++) {
              DataNode dn = null;
              for (DataNode d : cluster.getDataNodes()) {
                if (d.getDatanodeId() != null && d.getDatanodeId().getXferAddr().equals(xferAddrs.get(i))) { dn = d; }
              }
              if (dn == null) { throw new IllegalStateException("DataNode " + i + " not found"); }
              dns.add(dn);
            }
            for (int i = 0; i < xferAddrs.size(); i++) {
              MiniDFSCluster.DataNodeProperties p = cluster.stopDataNode(dns.get(i).getDatanodeId().getXferAddr());
              // restartDataNode starts from the Configuration MiniDFSCluster
              // saved for this DataNode (a package-private field).
              java.lang.reflect.Field cf = MiniDFSCluster.DataNodeProperties.class.getDeclaredField("conf");
              cf.setAccessible(true);
              Configuration dc = (Configuration) cf.get(p);
              dc.set("dfs.data.transfer.protection", f[1]);
              if (suites == null) {
                dc.unset("dfs.encrypt.data.transfer.cipher.suites");
              } else {
                dc.set("dfs.encrypt.data.transfer.cipher.suites", suites);
              }
              cluster.restartDataNode(p, true);
            }
            cluster.waitActive();
            secureProtection = f[1] + (suites == null ? "" : " " + suites);
            protection = secureProtection;
            ctl.println("OK protection " + secureProtection);
            break;
          }
          case "info":
            ctl.println("OK " + info(cluster, ms));
            break;
          case "shutdown":
            quietShutdown(cluster);
            ctl.println("OK bye");
            System.exit(0);
            break;
          default:
            ctl.println("ERR unknown command " + f[0]);
        }
      } catch (Throwable e) {
        e.printStackTrace();
        ctl.println("ERR " + oneLine(e.toString()));
      }
    }
    // The harness went away: do not outlive it.
    quietShutdown(cluster);
    System.exit(0);
  }

  private static List<String> xferAddrs;
  private static Secure secure;
  private static String protection;

  private static int dataNodeIndex(String[] f) {
    if (f.length < 2) { throw new IllegalArgumentException(f[0] + " needs a DataNode index"); }
    int i = Integer.parseInt(f[1]);
    if (i < 0 || i >= xferAddrs.size()) { throw new IllegalArgumentException("no DataNode " + i); }
    return i;
  }

  private static String info(MiniDFSCluster c, long startMillis) {
    StringBuilder sb = new StringBuilder("{");
    boolean nnUp = c.getNameNode(0) != null;
    if (nnUp) {
      sb.append("\"nameNode\":\"127.0.0.1:").append(c.getNameNodePort(0)).append("\",");
      if (c.getNameNode(0).getHttpAddress() != null) {
        sb.append("\"http\":\"127.0.0.1:").append(c.getNameNode(0).getHttpAddress().getPort()).append("\",");
      }
      if (c.getNameNode(0).getHttpsAddress() != null) {
        sb.append("\"https\":\"127.0.0.1:").append(c.getNameNode(0).getHttpsAddress().getPort()).append("\",");
      }
    }
    if (secure != null) {
      sb.append("\"kerberos\":").append(secure.json(protection)).append(',');
    }
    sb.append("\"startMillis\":").append(startMillis).append(",\"dataNodes\":[");
    List<DataNode> dns = c.getDataNodes();
    for (int i = 0; i < dns.size(); i++) {
      DataNode dn = dns.get(i);
      if (i > 0) { sb.append(','); }
      sb.append("{\"xfer\":\"127.0.0.1:").append(dn.getXferPort())
          .append("\",\"ipc\":\"127.0.0.1:").append(dn.getIpcPort())
          .append("\",\"http\":\"127.0.0.1:").append(dn.getInfoPort())
          .append("\",\"https\":\"127.0.0.1:").append(dn.getInfoSecurePort()).append("\"}");
    }
    return sb.append("]}").toString();
  }

  private static volatile boolean down;

  private static synchronized void quietShutdown(MiniDFSCluster c) {
    if (down) { return; }
    down = true;
    try { c.shutdown(true); } catch (Throwable e) { e.printStackTrace(); }
    if (secure != null) { secure.stop(); }
  }

  private static void fail(PrintStream ctl, String msg) {
    ctl.println("FAILED " + oneLine(msg));
    System.exit(1);
  }

  private static String oneLine(String s) {
    return s.replace('\n', ' ').replace('\r', ' ');
  }
}
