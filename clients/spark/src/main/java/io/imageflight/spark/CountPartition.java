package io.imageflight.spark;

import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;

/**
 * A pushed COUNT(*)'s only partition: the count the coordinator planned, read as one row
 * (the same value once per COUNT(*) of the query) without a call to any worker.
 */
final class CountPartition implements InputPartition {
  private static final long serialVersionUID = 1L;

  final long count;
  final int columns;

  CountPartition(long count, int columns) {
    this.count = count;
    this.columns = columns;
  }

  PartitionReader<InternalRow> reader() {
    Object[] values = new Object[columns];
    java.util.Arrays.fill(values, count);
    InternalRow row = new GenericInternalRow(values);
    return new PartitionReader<InternalRow>() {
      private boolean done;

      @Override
      public boolean next() {
        boolean more = !done;
        done = true;
        return more;
      }

      @Override
      public InternalRow get() {
        return row;
      }

      @Override
      public void close() {}
    };
  }

  @Override
  public String toString() {
    return "CountPartition(" + count + ")";
  }
}
