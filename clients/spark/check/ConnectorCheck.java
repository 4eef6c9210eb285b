import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.length;
import static org.apache.spark.sql.functions.sum;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.datasources.v2.BatchScanExec;

/**
 * The JVM connector checked in real Spark (local[2]) against a real imageflight cluster, for
 * test/e2e/spark_test.go: it runs the queries and prints one JSON object of what it saw;
 * the Go test asserts on it (rows against Spark's own format("image"), worker metrics around
 * pruned and full reads, explain() of pushed filters and limits, preferred locations, and the
 * rows of a read during which the Go test SIGKILLs a worker).
 *
 * Args: coordinator corpusDir metricsURLs(comma) [failoverDir killMarkerFile
 *       [tlsCoordinator caFile user password]]
 */
public final class ConnectorCheck {
  static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    String coord = args[0];
    String dir = args[1];
    String[] metrics = args[2].split(",");
    SparkSession spark = SparkSession.builder().master("local[2]").appName("imageflight-check")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate();
    spark.sparkContext().setLogLevel("WARN");
    ObjectNode out = JSON.createObjectNode();
    System.err.println("PHASE spark");
    out.put("spark", spark.version());
    System.err.println("PHASE scala");
    out.put("scala", scala.util.Properties.versionNumberString());

    Dataset<Row> image = spark.read().format("image").load(dir);
    Dataset<Row> ours = spark.read().format("imageflight").option("coordinator", coord).load(dir);
    System.err.println("PHASE schemaImage");
    out.put("schemaImage", image.schema().json());
    System.err.println("PHASE schemaOurs");
    out.put("schemaOurs", ours.schema().json());
    System.err.println("PHASE rowsImage");
    out.set("rowsImage", rows(image));

    // Pruning: count() is answered from the plan; groupBy("cls") and select(height, width) read
    // headers only (no row with pixels put into a batch).
    System.err.println("PHASE count");
    out.set("count", measured(metrics, () -> ours.count()));
    System.err.println("PHASE countImage");
    out.set("countImage", JSON.valueToTree(image.count()));
    System.err.println("PHASE selectCls");
    out.set("selectCls", measured(metrics, () -> ours.select("cls").where(col("cls").isNotNull()).count()));
    System.err.println("PHASE groupBy");
    out.set("groupBy", measured(metrics, () -> groups(ours.groupBy("cls").count())));
    System.err.println("PHASE groupByImage");
    out.set("groupByImage", JSON.valueToTree(groups(image.groupBy("cls").count())));
    System.err.println("PHASE heightWidth");
    out.set("heightWidth", measured(metrics, () -> strings(ours.select("image.origin", "image.height", "image.width"))));
    System.err.println("PHASE full");
    out.set("full", measured(metrics, () -> ours.agg(sum(length(col("image.data")))).first().getLong(0)));
    System.err.println("PHASE rowsOurs");
    out.set("rowsOurs", rows(ours));
    System.err.println("PHASE explainCount");
    out.put("explainCount", plan(ours.groupBy().count()));
    System.err.println("PHASE explainGroupBy");
    out.put("explainGroupBy", plan(ours.groupBy("cls").count()));
    Dataset<Row> dropped = spark.read().format("imageflight").option("coordinator", coord)
        .option("dropInvalid", "true").load(dir);
    System.err.println("PHASE countDropInvalid");
    out.put("countDropInvalid", dropped.count());
    System.err.println("PHASE countDropInvalidImage");
    out.put("countDropInvalidImage", spark.read().format("image").option("dropInvalid", "true").load(dir).count());
    System.err.println("PHASE explainDropInvalidCount");
    out.put("explainDropInvalidCount", plan(dropped.groupBy().count()));

    // Filter and limit pushdown.
    Dataset<Row> where = ours.where("cls = 'cats' AND split IN ('train', 'test')");
    System.err.println("PHASE explainWhere");
    out.put("explainWhere", plan(where));
    System.err.println("PHASE whereCount");
    out.put("whereCount", where.count());
    System.err.println("PHASE whereCountImage");
    out.put("whereCountImage", image.where("cls = 'cats' AND split IN ('train', 'test')").count());
    Dataset<Row> notPushed = ours.where("image.height > 10");
    System.err.println("PHASE explainNotPushed");
    out.put("explainNotPushed", plan(notPushed));
    System.err.println("PHASE notPushedCount");
    out.put("notPushedCount", notPushed.count());
    System.err.println("PHASE notPushedCountImage");
    out.put("notPushedCountImage", image.where("image.height > 10").count());
    Dataset<Row> limited = ours.limit(3);
    System.err.println("PHASE explainLimit");
    out.put("explainLimit", plan(limited));
    System.err.println("PHASE limitCount");
    out.put("limitCount", limited.count());
    System.err.println("PHASE limitRows");
    out.put("limitRows", limited.collectAsList().size());
    // A COUNT(*) from the plan agrees with the rows a read returns, under sampling and the
    // limit option.
    Dataset<Row> sampled = spark.read().format("imageflight").option("coordinator", coord)
        .option("sampleRatio", "0.5").option("seed", "3").load(dir);
    System.err.println("PHASE sampledCount");
    out.put("sampledCount", sampled.count());
    out.put("sampledRows", sampled.select("image.origin").collectAsList().size());
    out.put("limitOptionCount", spark.read().format("imageflight").option("coordinator", coord)
        .option("limit", "5").load(dir).count());

    // Locality: each Spark partition prefers the hosts of its endpoint's locations.
    Dataset<Row> parts = spark.read().format("imageflight").option("coordinator", coord)
        .option("numPartitions", "4").load(dir);
    System.err.println("PHASE partitions");
    out.set("partitions", partitions(parts));
    System.err.println("PHASE partitionRows");
    out.put("partitionRows", parts.count());

    // The seed's entry point.
    spark.conf().set("spark.imageflight.coordinator", coord);
    System.err.println("PHASE readImagesCount");
    out.put("readImagesCount",
        io.imageflight.spark.ImageFlight.readImages(spark, dir, false, 2, true, 1.0, 0L).count());

    System.err.println("PHASE synapseResized");
    out.put("synapseResized", synapse(spark.read().format("imageflight").option("coordinator", coord)
        .option("dropInvalid", "true").load(dir)));

    String modelPath = System.getenv("CHECK_MODEL");
    if (modelPath != null) {
      System.err.println("PHASE model");
      model(spark, coord, dir, modelPath, metrics, out);
    }

    if (args.length > 8) {
      secure(spark, dir, args[5], args[6], args[7], args[8], out);
    }
    if (args.length > 4) {
      failover(spark, coord, args[3], args[4], out);
    }
    System.out.println("CHECK-RESULT " + JSON.writeValueAsString(out));
    spark.stop();
  }

  interface Query {
    Object run() throws Exception;
  }

  /** Runs q and reports its result with the workers' metric deltas around it. */
  static ObjectNode measured(String[] metrics, Query q) throws Exception {
    long[] before = scrape(metrics);
    Object result = q.run();
    long[] after = scrape(metrics);
    ObjectNode n = JSON.createObjectNode();
    n.set("result", JSON.valueToTree(result));
    n.put("pixelRows", after[0] - before[0]);
    n.put("images", after[1] - before[1]);
    return n;
  }

  /** Sums imageflight_batch_rows_total (rows with pixels) and imageflight_images_total. */
  static long[] scrape(String[] urls) throws Exception {
    long[] s = new long[2];
    for (String u : urls) {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(new URL(u).openStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          if (line.startsWith("#")) {
            continue;
          }
          String[] kv = line.split(" ");
          if (line.startsWith("imageflight_batch_rows_total")) {
            s[0] += (long) Double.parseDouble(kv[kv.length - 1]);
          } else if (line.startsWith("imageflight_images_total")) {
            s[1] += (long) Double.parseDouble(kv[kv.length - 1]);
          }
        }
      }
    }
    return s;
  }

  static String plan(Dataset<Row> df) {
    return df.queryExecution().executedPlan().toString();
  }

  static ArrayNode rows(Dataset<Row> df) throws Exception {
    List<String> lines = new ArrayList<>();
    String[] cols = df.columns();
    for (Row r : df.collectAsList()) {
      Row im = r.getStruct(0);
      StringBuilder b = new StringBuilder();
      b.append(im.getString(0)).append(' ').append(im.getInt(1)).append(' ').append(im.getInt(2)).append(' ')
          .append(im.getInt(3)).append(' ').append(im.getInt(4)).append(' ').append(sha((byte[]) im.get(5)));
      for (int i = 1; i < cols.length; i++) {
        b.append(' ').append(cols[i]).append('=').append(r.isNullAt(i) ? "null" : r.get(i).toString());
      }
      lines.add(b.toString());
    }
    Collections.sort(lines);
    return JSON.valueToTree(lines);
  }

  static List<String> strings(Dataset<Row> df) {
    List<String> lines = new ArrayList<>();
    for (Row r : df.collectAsList()) {
      lines.add(r.mkString(" "));
    }
    Collections.sort(lines);
    return lines;
  }

  static List<String> groups(Dataset<Row> df) {
    return strings(df);
  }

  static String sha(byte[] b) throws Exception {
    StringBuilder s = new StringBuilder();
    for (byte x : MessageDigest.getInstance("SHA-256").digest(b)) {
      s.append(String.format("%02x", x));
    }
    return s.toString();
  }

  static ArrayNode partitions(Dataset<Row> df) {
    ArrayNode a = JSON.createArrayNode();
    SparkPlan p = df.queryExecution().executedPlan();
    scala.collection.Seq<SparkPlan> leaves = p.collectLeaves();
    for (int i = 0; i < leaves.length(); i++) {
      if (!(leaves.apply(i) instanceof BatchScanExec)) {
        continue;
      }
      BatchScanExec scan = (BatchScanExec) leaves.apply(i);
      scala.collection.Seq<org.apache.spark.sql.connector.read.InputPartition> ips = scan.inputPartitions();
      for (int k = 0; k < ips.length(); k++) {
        org.apache.spark.sql.connector.read.InputPartition ip = ips.apply(k);
        ObjectNode n = a.addObject();
        n.put("partition", ip.toString());
        ArrayNode pref = n.putArray("preferred");
        for (String h : ip.preferredLocations()) {
          pref.add(h);
        }
      }
      RDD<?> rdd = scan.inputRDD();
      ArrayNode rddPrefs = JSON.createArrayNode();
      for (org.apache.spark.Partition part : rdd.partitions()) {
        scala.collection.Seq<String> locs = rdd.preferredLocations(part);
        ArrayNode l = rddPrefs.addArray();
        for (int j = 0; j < locs.length(); j++) {
          l.add(locs.apply(j));
        }
      }
      a.addObject().set("rddPreferred", rddPrefs);
    }
    return a;
  }

  /**
   * SynapseML's own ImageTransformer (resize to 32x48) on the connector's DataFrame, when
   * SynapseML is on the classpath (the Spark 3.5 / Scala 2.12 line): how many rows it resized
   * to that shape, -1 without SynapseML. Called by reflection: the other lines have no jar.
   */
  static long synapse(Dataset<Row> df) throws Exception {
    Class<?> c;
    try {
      c = Class.forName("com.microsoft.azure.synapse.ml.opencv.ImageTransformer");
    } catch (ClassNotFoundException e) {
      return -1;
    }
    Object t = c.getConstructor().newInstance();
    t = c.getMethod("setInputCol", String.class).invoke(t, "image");
    t = c.getMethod("setOutputCol", String.class).invoke(t, "resized");
    t = c.getMethod("resize", int.class, int.class).invoke(t, 32, 48);
    @SuppressWarnings("unchecked")
    Dataset<Row> out = (Dataset<Row>) c.getMethod("transform", Dataset.class).invoke(t, df);
    return out.where("resized.height = 32 AND resized.width = 48 AND length(resized.data) = 32 * 48 * resized.nChannels")
        .count();
  }

  /**
   * A model on the workers (docs/models.md) through the connector: the tensors a read without
   * the model streams (origin, then the floats), and the model's columns of a read that needs
   * no pixels (origin, features, pred; pixel rows measured: none), for the Go test to run the
   * same model on those tensors; the schema; and a filter on a model column, which must stay
   * in Spark (it is no partition column).
   */
  static void model(SparkSession spark, String coord, String dir, String modelPath, String[] metrics, ObjectNode out)
      throws Exception {
    String transforms = "[{\"action\": \"resize\", \"height\": 4, \"width\": 4}]";
    String tensor = "{\"colorScaleFactor\": 0.00392156862745098, \"autoConvertToColor\": true}";
    String model = "{\"modelLocation\": \"" + modelPath + "\", \"feedDict\": {\"x\": \"tensor\"}, "
        + "\"fetchDict\": {\"features\": \"features\", \"logits\": \"logits\"}, \"argMaxDict\": {\"logits\": \"pred\"}}";
    Dataset<Row> tensors = spark.read().format("imageflight").option("coordinator", coord)
        .option("transforms", transforms).option("tensor", tensor).load(dir);
    out.set("modelTensors", JSON.valueToTree(floatRows(tensors.select("image.origin", "tensor"))));
    Dataset<Row> features = spark.read().format("imageflight").option("coordinator", coord)
        .option("transforms", transforms).option("tensor", tensor).option("model", model).load(dir);
    out.put("modelSchema", features.schema().simpleString());
    out.set("modelFeatures", measured(metrics, () -> floatRows(features.select("image.origin", "features", "pred"))));
    Dataset<Row> filtered = features.where("pred >= 0 AND cls = 'cats'");
    out.put("modelExplainWhere", plan(filtered));
    out.put("modelWhereCount", filtered.count());
  }

  /** Rows as "origin v v v ...": an array column's floats, then any scalar columns. */
  static List<String> floatRows(Dataset<Row> df) {
    List<String> lines = new ArrayList<>();
    for (Row r : df.collectAsList()) {
      StringBuilder b = new StringBuilder(r.getString(0));
      for (int i = 1; i < r.length(); i++) {
        if (r.isNullAt(i)) {
          b.append(" null");
        } else if (r.get(i) instanceof Number) {
          b.append(' ').append(r.get(i));
        } else {
          for (Object v : r.getList(i)) {
            b.append(' ').append(v);
          }
        }
      }
      lines.add(b.toString());
    }
    Collections.sort(lines);
    return lines;
  }

  /** Reads through a TLS cluster with basic auth, and once with a wrong password. */
  static void secure(SparkSession spark, String dir, String coord, String ca, String user, String password,
      ObjectNode out) {
    Dataset<Row> df = spark.read().format("imageflight").option("coordinator", coord).option("tlsCAFile", ca)
        .option("username", user).option("password", password).load(dir);
    out.put("secureCount", df.count());
    out.put("secureBytes", df.agg(sum(length(col("image.data")))).first().getLong(0));
    try {
      spark.read().format("imageflight").option("coordinator", coord).option("tlsCAFile", ca)
          .option("username", user).option("password", password + "x").load(dir).count();
      out.put("secureBadPassword", "accepted");
    } catch (RuntimeException e) {
      out.put("secureBadPassword", String.valueOf(e));
    }
  }

  /**
   * Reads failoverDir three times through the connector: once clean; once with a marker file
   * (MARKER-stall.reading) written after the first row, on which the Go test SIGSTOPs a worker
   * that is streaming (the read must get past it with a short stallTimeout; MARKER-stall.done
   * afterwards tells the Go test to SIGCONT it); once with MARKER.reading, on which the Go test
   * SIGKILLs a streaming worker.
   */
  static void failover(SparkSession spark, String coord, String dir, String marker, ObjectNode out) throws Exception {
    Dataset<Row> df = spark.read().format("imageflight").option("coordinator", coord)
        .option("recursive", "true").option("numPartitions", "2").load(dir);
    System.err.println("PHASE failoverClean");
    out.set("failoverClean", JSON.valueToTree(digests(df, null)));
    System.err.println("PHASE failoverCleanMetrics");
    out.set("failoverCleanMetrics", lastMetrics);
    Dataset<Row> stalled = spark.read().format("imageflight").option("coordinator", coord)
        .option("recursive", "true").option("numPartitions", "2").option("stallTimeout", "10").load(dir);
    System.err.println("PHASE stalled");
    out.set("stalled", JSON.valueToTree(digests(stalled, marker + "-stall")));
    out.set("stalledMetrics", lastMetrics);
    Files.write(Paths.get(marker + "-stall.done"), new byte[0]);
    Dataset<Row> again = spark.read().format("imageflight").option("coordinator", coord)
        .option("recursive", "true").option("numPartitions", "2").load(dir);
    List<String> got = digests(again, marker);
    System.err.println("PHASE failoverKilled");
    out.set("failoverKilled", JSON.valueToTree(got));
    System.err.println("PHASE failoverMetrics");
    out.set("failoverMetrics", lastMetrics);
  }

  /** Markers whose worker was already stopped or killed: once per read. */
  static final java.util.Set<String> done = Collections.synchronizedSet(new java.util.HashSet<>());
  static ObjectNode lastMetrics;

  static List<String> digests(Dataset<Row> df, String marker) throws Exception {
    MapPartitionsFunction<Row, String> f = (Iterator<Row> it) -> {
      List<String> o = new ArrayList<>();
      while (it.hasNext()) {
        Row im = it.next().getStruct(0);
        o.add(im.getString(0) + " " + sha((byte[]) im.get(5)));
        if (marker != null) {
          synchronized (ConnectorCheck.class) {
            if (!done.contains(marker)) {
              // Local mode: tasks run in this JVM. Tell the Go test to kill a worker now,
              // and wait until it did, so the kill lands while streams are open.
              Files.write(Paths.get(marker + ".reading"), new byte[0]);
              long deadline = System.currentTimeMillis() + 120_000;
              while (!Files.exists(Paths.get(marker + ".killed")) && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
              }
              done.add(marker);
            }
          }
        }
      }
      return o.iterator();
    };
    Dataset<String> d = df.mapPartitions(f, Encoders.STRING());
    List<String> all = new ArrayList<>(d.collectAsList());
    Collections.sort(all);
    // The connector's custom metrics, as the SQL tab shows them.
    lastMetrics = JSON.createObjectNode();
    scala.collection.Map<String, org.apache.spark.sql.execution.metric.SQLMetric> m =
        d.queryExecution().executedPlan().collectLeaves().apply(0).metrics();
    scala.collection.Iterator<String> keys = m.keysIterator();
    while (keys.hasNext()) {
      String k = keys.next();
      lastMetrics.put(k, m.apply(k).value());
    }
    return all;
  }
}
