package io.imageflight.spark;

import java.util.Map;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * {@code spark.read.format("imageflight")}: Spark's image source served by an imageflight
 * cluster. The schema comes from the coordinator's GetSchema (no planning); each query plans
 * with GetFlightInfo when Spark asks for its partitions (one per Flight endpoint).
 */
public final class ImageFlightSource implements TableProvider, DataSourceRegister {
  @Override
  public String shortName() {
    return "imageflight";
  }

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    ReadOptions o = ReadOptions.parse(options.asCaseSensitiveMap());
    return Schemas.spark(Schemas.arrow(FlightClient.getSchema(o, o.command(false, null, null))));
  }

  @Override
  public boolean supportsExternalMetadata() {
    return true; // a user schema may give partition columns other types (as Spark casts them)
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    return new ImageFlightTable(schema, ReadOptions.parse(properties));
  }
}
