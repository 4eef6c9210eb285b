package io.imageflight.spark;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.vector.ipc.ReadChannel;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The DataFrame schema from the server's Arrow schema (docs/protocol.md §1.4): Spark's image
 * struct exactly as {@code spark.read.format("image")} reports it (every field nullable, as
 * Spark's file sources report their read schema), then the tensor column as array&lt;float&gt;
 * (or array&lt;double&gt;), the failure column, and the typed partition columns.
 */
final class Schemas {
  private Schemas() {}

  static final StructType IMAGE = new StructType(new StructField[] {
      DataTypes.createStructField("origin", DataTypes.StringType, true),
      DataTypes.createStructField("height", DataTypes.IntegerType, true),
      DataTypes.createStructField("width", DataTypes.IntegerType, true),
      DataTypes.createStructField("nChannels", DataTypes.IntegerType, true),
      DataTypes.createStructField("mode", DataTypes.IntegerType, true),
      DataTypes.createStructField("data", DataTypes.BinaryType, true)});

  /** Parses a FlightInfo's / SchemaResult's IPC-encoded schema. */
  static Schema arrow(byte[] ipc) {
    try {
      return MessageSerializer.deserializeSchema(
          new ReadChannel(Channels.newChannel(new ByteArrayInputStream(ipc))));
    } catch (IOException e) {
      throw new IllegalStateException("imageflight: bad schema from the coordinator: " + e, e);
    }
  }

  static StructType spark(Schema schema) {
    List<StructField> out = new ArrayList<>();
    List<Field> fields = schema.getFields();
    if (fields.isEmpty() || !"image".equals(fields.get(0).getName())
        || !(fields.get(0).getType() instanceof ArrowType.Struct)) {
      throw new IllegalStateException("imageflight: unexpected schema from the coordinator: " + schema);
    }
    out.add(DataTypes.createStructField("image", IMAGE, true));
    for (Field f : fields.subList(1, fields.size())) {
      out.add(DataTypes.createStructField(f.getName(), sparkType(f), true));
    }
    return new StructType(out.toArray(new StructField[0]));
  }

  private static DataType sparkType(Field f) {
    ArrowType t = f.getType();
    if (t instanceof ArrowType.FixedSizeList || t instanceof ArrowType.List) {
      ArrowType child = f.getChildren().get(0).getType();
      boolean dbl = child instanceof ArrowType.FloatingPoint
          && ((ArrowType.FloatingPoint) child).getPrecision() == org.apache.arrow.vector.types.FloatingPointPrecision.DOUBLE;
      return DataTypes.createArrayType(dbl ? DataTypes.DoubleType : DataTypes.FloatType, true);
    }
    if (t instanceof ArrowType.Int) {
      return ((ArrowType.Int) t).getBitWidth() == 64 ? DataTypes.LongType : DataTypes.IntegerType;
    }
    if (t instanceof ArrowType.FloatingPoint) {
      return DataTypes.DoubleType;
    }
    if (t instanceof ArrowType.Utf8) {
      return DataTypes.StringType;
    }
    throw new IllegalStateException("imageflight: column " + f.getName() + " has type " + t + ", which the connector does not map");
  }

  /** Partition columns: every column after image that is not tensor or failure. */
  static boolean isPartitionColumn(String name) {
    return !name.equals("image") && !name.equals("tensor") && !name.equals("failure");
  }
}
