package io.imageflight.spark;

import org.apache.spark.sql.DataFrameReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Spark 2.3's {@code ImageSchema.readImages} served by imageflight, for Java and Scala:
 * {@code ImageFlight.readImages(spark, path, recursive, numPartitions, dropImageFailures,
 * sampleRatio, seed)} is {@code spark.read.format("imageflight")} with those options. The
 * coordinator is the session's {@code spark.imageflight.coordinator}, else
 * {@code $IMAGEFLIGHT_COORDINATOR}, else grpc://127.0.0.1:8815.
 */
public final class ImageFlight {
  private ImageFlight() {}

  /** The Spark configuration key naming the coordinator for {@link #readImages}. */
  public static final String COORDINATOR_CONF = "spark.imageflight.coordinator";

  public static Dataset<Row> readImages(SparkSession spark, String path) {
    return readImages(spark, path, false, -1, false, 1.0, 0L);
  }

  public static Dataset<Row> readImages(SparkSession spark, String path, boolean recursive, int numPartitions,
      boolean dropImageFailures, double sampleRatio, long seed) {
    DataFrameReader r = spark.read().format("imageflight")
        .option("recursive", recursive)
        .option("numPartitions", numPartitions)
        .option("dropImageFailures", dropImageFailures)
        .option("sampleRatio", sampleRatio)
        .option("seed", seed);
    if (spark.conf().contains(COORDINATOR_CONF)) {
      r = r.option("coordinator", spark.conf().get(COORDINATOR_CONF));
    }
    return r.load(path);
  }
}
