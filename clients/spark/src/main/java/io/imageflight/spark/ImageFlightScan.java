package io.imageflight.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.spark.sql.connector.metric.CustomMetric;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.sources.Filter;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * One query's read: planned with GetFlightInfo when Spark asks for its partitions (one per
 * Flight endpoint), read as Arrow columnar batches on the executors.
 */
final class ImageFlightScan implements Scan, Batch {
  private final ReadOptions options;
  private final StructType readSchema;
  private final boolean headerOnly;
  private final String pushedFiltersJson;
  private final Filter[] pushedFilters;
  private final Long pushedLimit;
  private final boolean count; // readSchema is countSchema: the plan answers, no stream is read

  ImageFlightScan(ReadOptions options, StructType readSchema, boolean headerOnly, String pushedFiltersJson,
      Filter[] pushedFilters, Long pushedLimit, boolean count) {
    this.options = options;
    this.readSchema = readSchema;
    this.headerOnly = headerOnly;
    this.pushedFiltersJson = pushedFiltersJson;
    this.pushedFilters = pushedFilters;
    this.pushedLimit = pushedLimit;
    this.count = count;
  }

  /** A pushed COUNT(*)'s columns, one long per COUNT(*) of the query. */
  static StructType countSchema(int n) {
    StructType s = new StructType();
    for (int i = 0; i < n; i++) {
      s = s.add("count(*)" + (i == 0 ? "" : "_" + i), DataTypes.LongType, false);
    }
    return s;
  }

  @Override
  public StructType readSchema() {
    return readSchema;
  }

  @Override
  public String description() {
    // Shown by explain() on the BatchScan node.
    return "ImageFlightScan " + String.join(", ", options.paths)
        + " PushedFilters: " + Arrays.toString(pushedFilters)
        + ", PushedLimit: " + (pushedLimit == null ? "none" : pushedLimit)
        + ", HeaderOnly: " + headerOnly
        + (count ? ", PushedAggregation: [COUNT(*)]" : "");
  }

  @Override
  public Batch toBatch() {
    return this;
  }

  byte[] command() {
    return options.command(headerOnly, pushedFiltersJson, pushedLimit);
  }

  @Override
  public InputPartition[] planInputPartitions() {
    FlightProto.FlightInfo info = FlightClient.getFlightInfo(options, command());
    if (count) {
      if (info.totalRecords < 0) {
        throw new IllegalStateException("imageflight: the coordinator " + options.coordinator
            + " answered no file count (total_records) for a COUNT(*) of " + String.join(", ", options.paths));
      }
      return new InputPartition[] {new CountPartition(info.totalRecords, readSchema.size())};
    }
    StructType planned = Schemas.spark(Schemas.arrow(info.schema));
    List<String> want = partitionColumns(planned);
    for (String c : readSchema.fieldNames()) {
      if (options.isPartitionColumn(c) && !want.contains(c)) {
        throw new IllegalStateException("imageflight: column " + c + " is not in the plan's schema " + planned.simpleString()
            + " (the folder layout changed since the DataFrame was created, or a user schema does not match)");
      }
    }
    InputPartition[] out = new InputPartition[info.endpoints.size()];
    for (int i = 0; i < out.length; i++) {
      FlightProto.Endpoint ep = info.endpoints.get(i);
      List<String> locs = new ArrayList<>(ep.locations);
      if (locs.isEmpty()) {
        locs.add(options.coordinator); // Flight: no location means the service that planned
      }
      // A worker's grpc+unix:// socket (listed after its network locations, for clients on
      // its host) is not dialed from the JVM: Netty needs its native epoll transport for it.
      locs.removeIf(l -> l.startsWith("grpc+unix://"));
      out[i] = new EndpointPartition(i, ep.ticket, locs);
    }
    return out;
  }

  private List<String> partitionColumns(StructType s) {
    return Arrays.stream(s.fieldNames()).filter(options::isPartitionColumn).collect(Collectors.toList());
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    return new EndpointReader.Factory(options, readSchema);
  }

  @Override
  public CustomMetric[] supportedCustomMetrics() {
    return Metrics.all();
  }
}
