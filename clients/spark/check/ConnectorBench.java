import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.length;
import static org.apache.spark.sql.functions.sum;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * test/bench/spark_jvm_bench.sh's measurements, in one Spark JVM (local[2]): Spark's own
 * format("image") against the JVM connector on the same folder, per query the median wall
 * time of 3 runs after a warm-up and the CPU seconds of this JVM plus the imageflight
 * server (its pid given), then this JVM's peak RSS.
 *
 * Args: coordinator dir serverPid cls
 */
public final class ConnectorBench {
  static String serverPid;
  static final long TICKS = 100; // USER_HZ on Linux

  public static void main(String[] args) throws Exception {
    String coord = args[0], dir = args[1], cls = args[3];
    serverPid = args[2];
    SparkSession spark = SparkSession.builder().master("local[2]").appName("imageflight-bench")
        .config("spark.ui.enabled", "false").getOrCreate();
    spark.sparkContext().setLogLevel("ERROR");
    Supplier<Dataset<Row>> image = () -> spark.read().format("image").load(dir);
    Supplier<Dataset<Row>> ours = () -> spark.read().format("imageflight").option("coordinator", coord).load(dir);
    Supplier<Dataset<Row>> resized = () -> spark.read().format("imageflight").option("coordinator", coord)
        .option("transforms", "[{\"action\":\"resize\",\"size\":224,\"keepAspectRatio\":true},"
            + "{\"action\":\"centercrop\",\"height\":224,\"width\":224}]").load(dir);
    System.out.printf("%-44s %10s %10s %10s%n", "query", "wall s", "CPU s", "result");
    boolean hasCls = java.util.Arrays.asList(ours.get().columns()).contains("cls");
    for (String[] q : new String[][] {{"count()", ""}, {"where(cls = ...).count()", "where"},
        {"sum(length(image.data))", "full"}}) {
      if (q[1].equals("where") && !hasCls) {
        continue; // a folder without cls= partitions
      }
      run(q[0] + "  format(\"image\")", () -> query(image.get(), q[1], cls));
      run(q[0] + "  imageflight (JVM)", () -> query(ours.get(), q[1], cls));
    }
    run("resize 224 + centercrop (transforms)", () -> query(resized.get(), "full", cls));
    String hwm = Files.readAllLines(Paths.get("/proc/self/status")).stream()
        .filter(l -> l.startsWith("VmHWM")).findFirst().orElse("?");
    System.out.println("Spark JVM peak RSS: " + hwm.replaceAll("\\s+", " "));
    spark.stop();
  }

  static long query(Dataset<Row> df, String kind, String cls) {
    switch (kind) {
      case "where": return df.where(col("cls").equalTo(cls)).count();
      case "full": return df.agg(sum(length(col("image.data")))).first().getLong(0);
      default: return df.count();
    }
  }

  static double cpu() throws Exception {
    double jvm = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime() / 1e9;
    String[] f = new String(Files.readAllBytes(Paths.get("/proc/" + serverPid + "/stat"))).replaceAll("^.*\\) ", "")
        .split(" ");
    return jvm + (Long.parseLong(f[11]) + Long.parseLong(f[12])) / (double) TICKS; // utime, stime
  }

  static void run(String name, Supplier<Long> q) throws Exception {
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
    System.out.printf("%-44s %10.2f %10.2f %10d%n", name, runs.get(1)[0], runs.get(1)[1], result);
  }
}
