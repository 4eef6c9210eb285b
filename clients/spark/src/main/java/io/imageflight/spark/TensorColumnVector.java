package io.imageflight.spark;

import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.vectorized.ArrowColumnVector;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarArray;
import org.apache.spark.sql.vectorized.ColumnarMap;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The tensor column (Arrow fixed_shape_tensor: a fixed-size list of C×H×W floats per row) as
 * Spark's array&lt;float&gt; (or array&lt;double&gt;). Spark's ArrowColumnVector has no
 * fixed-size list accessor; each row's array is a window on the flat values vector, no copy.
 */
final class TensorColumnVector extends ColumnVector {
  private final FixedSizeListVector vector;
  private final ArrowColumnVector values;
  private final int size;

  TensorColumnVector(DataType type, FixedSizeListVector vector) {
    super(type);
    this.vector = vector;
    this.values = new ArrowColumnVector(vector.getDataVector());
    this.size = vector.getListSize();
  }

  @Override
  public void close() {
    values.close();
  }

  @Override
  public boolean hasNull() {
    return vector.getNullCount() > 0;
  }

  @Override
  public int numNulls() {
    return vector.getNullCount();
  }

  @Override
  public boolean isNullAt(int rowId) {
    return vector.isNull(rowId);
  }

  @Override
  public ColumnarArray getArray(int rowId) {
    return new ColumnarArray(values, rowId * size, size);
  }

  private static UnsupportedOperationException scalar() {
    return new UnsupportedOperationException("the tensor column holds arrays");
  }

  @Override public boolean getBoolean(int rowId) { throw scalar(); }
  @Override public byte getByte(int rowId) { throw scalar(); }
  @Override public short getShort(int rowId) { throw scalar(); }
  @Override public int getInt(int rowId) { throw scalar(); }
  @Override public long getLong(int rowId) { throw scalar(); }
  @Override public float getFloat(int rowId) { throw scalar(); }
  @Override public double getDouble(int rowId) { throw scalar(); }
  @Override public ColumnarMap getMap(int ordinal) { throw scalar(); }
  @Override public Decimal getDecimal(int rowId, int precision, int scale) { throw scalar(); }
  @Override public UTF8String getUTF8String(int rowId) { throw scalar(); }
  @Override public byte[] getBinary(int rowId) { throw scalar(); }
  @Override public ColumnVector getChild(int ordinal) { throw scalar(); }
}
