import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.length;
import static org.apache.spark.sql.functions.sum;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * test/bench/spark_jvm_bench.sh's measurements of one source in one Spark JVM (local[2]):
 * Spark's own format("image") or the JVM connector, so that each has its own peak RSS. Per
 * query the median wall time of 3 runs after a warm-up and the CPU seconds of this JVM plus
 * the imageflight server's process tree (its pid given), printed as tab-separated
 * {@code ROW query source wall cpu result} lines, then {@code RSS source kB} (VmHWM).
 *
 * Args: coordinator dir serverPid cls image|imageflight
 */
public final class ConnectorBench {
  static String serverPid;
  static final long TICKS = 100; // USER_HZ on Linux

  public static void main(String[] args) throws Exception {
    String coord = args[0], dir = args[1], cls = args[3], source = args[4];
    serverPid = args[2];
    SparkSession spark = SparkSession.builder().master("local[2]").appName("imageflight-bench")
        .config("spark.ui.enabled", "false").getOrCreate();
    spark.sparkContext().setLogLevel("ERROR");
    boolean ours = source.equals("imageflight");
    Supplier<Dataset<Row>> df = ours
        ? () -> spark.read().format("imageflight").option("coordinator", coord).load(dir)
        : () -> spark.read().format("image").load(dir);
    boolean hasCls = java.util.Arrays.asList(df.get().columns()).contains("cls");
    run("count()", source, () -> query(df.get(), "", cls));
    if (hasCls) { // a folder without cls= partitions has no where row
      run("where(cls = ...).count()", source, () -> query(df.get(), "where", cls));
    }
    run("sum(length(image.data))", source, () -> query(df.get(), "full", cls));
    if (ours) {
      run("resize 224 + centercrop (transforms)", source, () -> query(spark.read().format("imageflight")
          .option("coordinator", coord)
          .option("transforms", "[{\"action\":\"resize\",\"size\":224,\"keepAspectRatio\":true},"
              + "{\"action\":\"centercrop\",\"height\":224,\"width\":224}]").load(dir), "full", cls));
    }
    String hwm = Files.readAllLines(Paths.get("/proc/self/status")).stream()
        .filter(l -> l.startsWith("VmHWM")).findFirst().orElse("VmHWM: 0 kB");
    System.out.println("RSS\t" + source + "\t" + hwm.replaceAll("[^0-9]", ""));
    spark.stop();
  }

  static long query(Dataset<Row> df, String kind, String cls) {
    switch (kind) {
      case "where": return df.where(col("cls").equalTo(cls)).count();
      case "full": return df.agg(sum(length(col("image.data")))).first().getLong(0);
      default: return df.count();
    }
  }

  /** This JVM's CPU seconds plus those of the server and its descendants (live, and reaped ones through cutime/cstime). */
  static double cpu() throws IOException {
    double jvm = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime() / 1e9;
    Map<String, String[]> stat = new HashMap<>();
    try (DirectoryStream<Path> procs = Files.newDirectoryStream(Paths.get("/proc"), "[0-9]*")) {
      for (Path p : procs) {
        try {
          String s = new String(Files.readAllBytes(p.resolve("stat")));
          stat.put(p.getFileName().toString(), s.substring(s.lastIndexOf(')') + 2).split(" "));
        } catch (IOException gone) {
          // exited meanwhile
        }
      }
    }
    long ticks = 0;
    for (Map.Entry<String, String[]> e : stat.entrySet()) {
      String pid = e.getKey();
      for (int depth = 0; pid != null && depth < 64; depth++) {
        if (pid.equals(serverPid)) {
          String[] f = e.getValue();
          ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]) + Long.parseLong(f[13]) + Long.parseLong(f[14]);
          break;
        }
        String[] f = stat.get(pid);
        pid = f == null ? null : f[1]; // ppid
      }
    }
    return jvm + ticks / (double) TICKS;
  }

  static void run(String name, String source, Supplier<Long> q) throws Exception {
    q.get(); // warm-up: JIT, page cache, connections
    List<double[]> runs = new ArrayList<>();
    long result = 0;
    for (int i = 0; i < 3; i++) {
      double c0 = cpu();
      long t0 = System.nanoTime();
      result = q.get();
      runs.add(new double[] {(System.nanoTime() - t0) / 1e9, cpu() - c0});
    }
    Collections.sort(runs, (a, b) -> Double.compare(a[0], b[0]));
    System.out.printf("ROW\t%s\t%s\t%.2f\t%.2f\t%d%n", name, source, runs.get(1)[0], runs.get(1)[1], result);
  }
}
