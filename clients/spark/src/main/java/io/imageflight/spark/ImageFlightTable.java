package io.imageflight.spark;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/** The images under the read's paths, as one batch-readable table. */
final class ImageFlightTable implements SupportsRead {
  private final StructType schema;
  private final ReadOptions options;

  ImageFlightTable(StructType schema, ReadOptions options) {
    this.schema = schema;
    this.options = options;
  }

  @Override
  public String name() {
    return "imageflight " + String.join(", ", options.paths);
  }

  @Override
  public StructType schema() {
    return schema;
  }

  @Override
  public Set<TableCapability> capabilities() {
    return Collections.unmodifiableSet(EnumSet.of(TableCapability.BATCH_READ));
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap ignored) {
    return new ImageFlightScanBuilder(schema, options);
  }
}
