package io.imageflight.spark;

import org.apache.spark.sql.connector.metric.CustomMetric;
import org.apache.spark.sql.connector.metric.CustomSumMetric;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;

/** The read's custom metrics, summed over tasks in the Spark UI's SQL tab. */
final class Metrics {
  private Metrics() {}

  static CustomMetric[] all() {
    return new CustomMetric[] {new Rows(), new Bytes(), new Invalid(), new Resumes(), new Failovers(), new Stalls()};
  }

  static CustomTaskMetric[] values(long rows, long bytes, long invalid, long resumes, long failovers, long stalls) {
    return new CustomTaskMetric[] {
        task("imageflightRows", rows), task("imageflightBytes", bytes), task("imageflightInvalid", invalid),
        task("imageflightResumes", resumes), task("imageflightFailovers", failovers), task("imageflightStalls", stalls)};
  }

  private static CustomTaskMetric task(String name, long value) {
    return new CustomTaskMetric() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public long value() {
        return value;
      }
    };
  }

  /** Spark instantiates metrics by class name: public, with a no-argument constructor. */
  public static final class Rows extends CustomSumMetric {
    @Override public String name() { return "imageflightRows"; }
    @Override public String description() { return "imageflight rows received"; }
  }

  public static final class Bytes extends CustomSumMetric {
    @Override public String name() { return "imageflightBytes"; }
    @Override public String description() { return "imageflight Arrow body bytes received"; }
  }

  public static final class Invalid extends CustomSumMetric {
    @Override public String name() { return "imageflightInvalid"; }
    @Override public String description() { return "imageflight invalid images (height -1)"; }
  }

  public static final class Resumes extends CustomSumMetric {
    @Override public String name() { return "imageflightResumes"; }
    @Override public String description() { return "imageflight streams resumed on another worker"; }
  }

  public static final class Failovers extends CustomSumMetric {
    @Override public String name() { return "imageflightFailovers"; }
    @Override public String description() { return "imageflight endpoints failed over before their first row"; }
  }

  public static final class Stalls extends CustomSumMetric {
    @Override public String name() { return "imageflightStalls"; }
    @Override public String description() { return "imageflight streams cancelled after stallTimeout without data"; }
  }
}
