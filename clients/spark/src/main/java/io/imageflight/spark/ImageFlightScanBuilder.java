package io.imageflight.spark;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.connector.expressions.aggregate.AggregateFunc;
import org.apache.spark.sql.connector.expressions.aggregate.Aggregation;
import org.apache.spark.sql.connector.expressions.aggregate.CountStar;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.SupportsPushDownAggregates;
import org.apache.spark.sql.connector.read.SupportsPushDownFilters;
import org.apache.spark.sql.connector.read.SupportsPushDownLimit;
import org.apache.spark.sql.connector.read.SupportsPushDownRequiredColumns;
import org.apache.spark.sql.sources.EqualTo;
import org.apache.spark.sql.sources.Filter;
import org.apache.spark.sql.sources.GreaterThan;
import org.apache.spark.sql.sources.GreaterThanOrEqual;
import org.apache.spark.sql.sources.In;
import org.apache.spark.sql.sources.IsNotNull;
import org.apache.spark.sql.sources.IsNull;
import org.apache.spark.sql.sources.LessThan;
import org.apache.spark.sql.sources.LessThanOrEqual;
import org.apache.spark.sql.sources.Not;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * What Spark pushes into a read: the columns it needs (a query without image.data reads
 * headers only, see {@link #headerOnly}), filters on partition columns (sent as the
 * descriptor's partitionFilters, docs/protocol.md §1.2), a LIMIT (the descriptor's limit) and
 * a plain COUNT(*) (answered from the plan's file count, see {@link #pushAggregation}).
 */
final class ImageFlightScanBuilder implements ScanBuilder, SupportsPushDownRequiredColumns, SupportsPushDownFilters,
    SupportsPushDownLimit, SupportsPushDownAggregates {
  private final StructType schema;
  private final ReadOptions options;
  private StructType required;
  private Filter[] pushed = new Filter[0];
  private final ArrayNode pushedJson = Wire.JSON.createArrayNode();
  private Long pushedLimit;
  private int countStars; // COUNT(*)s answered from the plan, 0 when none was pushed

  ImageFlightScanBuilder(StructType schema, ReadOptions options) {
    this.schema = schema;
    this.options = options;
    this.required = schema;
  }

  @Override
  public void pruneColumns(StructType requiredSchema) {
    // Top-level pruning only: the image struct stays whole (Spark projects its fields), so
    // the Arrow struct vector is handed over as it arrives.
    List<StructField> keep = new ArrayList<>();
    for (StructField f : schema.fields()) {
      for (String n : requiredSchema.fieldNames()) {
        if (n.equalsIgnoreCase(f.name())) {
          keep.add(f);
          break;
        }
      }
    }
    required = new StructType(keep.toArray(new StructField[0]));
    this.requiredImage = null;
    for (StructField f : requiredSchema.fields()) {
      if (f.name().equalsIgnoreCase("image")) {
        requiredImage = f.dataType() instanceof StructType ? (StructType) f.dataType() : Schemas.IMAGE;
      }
    }
  }

  private StructType requiredImage = Schemas.IMAGE;

  /**
   * Header-only rows (pixels=false) when the query needs no pixels. Exact today: without
   * dropImageFailures every file is one row either way, so counts, origins and partition
   * values agree with a decoding read; with dropImageFailures a file whose header parses but
   * whose body does not would be kept by a header-only read and dropped by a decode
   * (docs/protocol.md §1.3), so such reads decode. The height/width/nChannels/mode of such a
   * file are its header's in a pruned read (-1 in a decoding one): README "Column pruning".
   */
  boolean headerOnly() {
    boolean needsData = requiredImage != null && requiredImage.getFieldIndex("data").isDefined();
    return !needsData && !options.dropImageFailures && !options.needsPixels();
  }

  @Override
  public Filter[] pushFilters(Filter[] filters) {
    List<Filter> rest = new ArrayList<>();
    List<Filter> done = new ArrayList<>();
    for (Filter f : filters) {
      ObjectNode j = translate(f);
      if (j == null) {
        rest.add(f);
      } else {
        pushedJson.add(j);
        done.add(f);
      }
    }
    pushed = done.toArray(new Filter[0]);
    return rest.toArray(new Filter[0]);
  }

  @Override
  public Filter[] pushedFilters() {
    return pushed;
  }

  @Override
  public boolean pushLimit(int limit) {
    // The descriptor's limit counts files; with dropImageFailures a dropped file would leave
    // fewer rows than Spark's LIMIT asks for, so it is not pushed then.
    if (options.dropImageFailures) {
      return false;
    }
    pushedLimit = (long) limit;
    return true;
  }

  @Override
  public boolean isPartiallyPushed() {
    return true; // Spark keeps its own LIMIT above the scan
  }

  /**
   * COUNT(*) without GROUP BY, after every filter was pushed: without dropImageFailures every
   * planned file is one row (valid, or Spark's invalid row), so the count is the plan's file
   * count (FlightInfo.total_records) and no worker reads a byte, as Spark's own image source
   * answers count() from its listing. With dropImageFailures only a read knows the count.
   */
  @Override
  public boolean pushAggregation(Aggregation aggregation) {
    if (options.dropImageFailures || aggregation.groupByExpressions().length > 0) {
      return false;
    }
    for (AggregateFunc f : aggregation.aggregateExpressions()) {
      if (!(f instanceof CountStar)) {
        return false;
      }
    }
    countStars = aggregation.aggregateExpressions().length;
    return countStars > 0;
  }

  @Override
  public boolean supportCompletePushDown(Aggregation aggregation) {
    return true; // one partition, one row: the final counts
  }

  @Override
  public Scan build() {
    String filters = pushedJson.size() == 0 ? null : pushedJson.toString();
    if (countStars > 0) {
      return new ImageFlightScan(options, ImageFlightScan.countSchema(countStars), true, filters, pushed, null, true);
    }
    return new ImageFlightScan(options, required, headerOnly(), filters, pushed, pushedLimit, false);
  }

  private DataType partitionType(String column) {
    for (StructField f : schema.fields()) {
      if (f.name().equalsIgnoreCase(column) && options.isPartitionColumn(f.name())) {
        return f.dataType();
      }
    }
    return null;
  }

  /** A partition filter the coordinator evaluates exactly as Spark would, or null. */
  private ObjectNode translate(Filter f) {
    String column;
    String op;
    Object value = null;
    Object[] values = null;
    if (f instanceof EqualTo) {
      column = ((EqualTo) f).attribute(); op = "="; value = ((EqualTo) f).value();
    } else if (f instanceof Not && ((Not) f).child() instanceof EqualTo) {
      EqualTo e = (EqualTo) ((Not) f).child();
      column = e.attribute(); op = "!="; value = e.value();
    } else if (f instanceof LessThan) {
      column = ((LessThan) f).attribute(); op = "<"; value = ((LessThan) f).value();
    } else if (f instanceof LessThanOrEqual) {
      column = ((LessThanOrEqual) f).attribute(); op = "<="; value = ((LessThanOrEqual) f).value();
    } else if (f instanceof GreaterThan) {
      column = ((GreaterThan) f).attribute(); op = ">"; value = ((GreaterThan) f).value();
    } else if (f instanceof GreaterThanOrEqual) {
      column = ((GreaterThanOrEqual) f).attribute(); op = ">="; value = ((GreaterThanOrEqual) f).value();
    } else if (f instanceof In) {
      column = ((In) f).attribute(); op = "in"; values = ((In) f).values();
    } else if (f instanceof IsNull) {
      column = ((IsNull) f).attribute(); op = "isNull";
    } else if (f instanceof IsNotNull) {
      column = ((IsNotNull) f).attribute(); op = "isNotNull";
    } else {
      return null;
    }
    DataType type = partitionType(column);
    if (type == null) {
      return null;
    }
    ObjectNode j = Wire.JSON.createObjectNode();
    j.put("column", column);
    j.put("op", op);
    if (values != null) {
      if (values.length > 10000) {
        return null;
      }
      ArrayNode a = j.putArray("values");
      for (Object v : values) {
        if (!literal(a, type, v)) {
          return null;
        }
      }
    } else if (!op.startsWith("is")) {
      ArrayNode a = Wire.JSON.createArrayNode();
      if (!literal(a, type, value)) {
        return null;
      }
      j.set("value", a.get(0));
    }
    return j;
  }

  /** Appends v when its type matches the column's (Spark casts literals to it). */
  private static boolean literal(ArrayNode a, DataType type, Object v) {
    if (type.equals(DataTypes.StringType) && v instanceof String) {
      a.add((String) v);
    } else if (type.equals(DataTypes.IntegerType) && v instanceof Integer) {
      a.add((Integer) v);
    } else if (type.equals(DataTypes.LongType) && (v instanceof Long || v instanceof Integer)) {
      a.add(((Number) v).longValue());
    } else if (type.equals(DataTypes.DoubleType) && v instanceof Double && !((Double) v).isNaN()
        && !((Double) v).isInfinite()) {
      a.add((Double) v);
    } else {
      return false;
    }
    return true;
  }
}
