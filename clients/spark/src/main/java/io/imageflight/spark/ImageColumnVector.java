package io.imageflight.spark;

import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.vector.TypeLayout;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.complex.StructVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.sql.vectorized.ArrowColumnVector;

/**
 * The image column of a batch whose pixel bytes stayed in the message body: Spark's
 * ArrowColumnVector for the struct and its small fields, and for {@code data} a child whose
 * getBinary copies the row's bytes straight from the body (where Spark's own accessor copies
 * them from an Arrow buffer, which would have been filled by another copy first).
 */
final class ImageColumnVector extends ArrowColumnVector {
  private final int dataOrdinal;
  private final Data data;

  ImageColumnVector(StructVector image, int dataOrdinal, MessageBody body, long dataOffset) {
    super(image);
    this.dataOrdinal = dataOrdinal;
    this.data = new Data((VarBinaryVector) image.getChildByOrdinal(dataOrdinal), body, dataOffset);
  }

  @Override
  public ArrowColumnVector getChild(int ordinal) {
    return ordinal == dataOrdinal ? data : super.getChild(ordinal);
  }

  /** image.data: validity and offsets in Arrow memory, the bytes in the body from dataOffset. */
  private static final class Data extends ArrowColumnVector {
    private final VarBinaryVector vector;
    private final MessageBody body;
    private final long dataOffset;

    Data(VarBinaryVector vector, MessageBody body, long dataOffset) {
      super(vector);
      this.vector = vector;
      this.body = body;
      this.dataOffset = dataOffset;
    }

    @Override
    public byte[] getBinary(int rowId) {
      if (vector.isNull(rowId)) {
        return null;
      }
      ArrowBuf offsets = vector.getOffsetBuffer();
      int start = offsets.getInt((long) rowId * 4);
      int end = offsets.getInt((long) (rowId + 1) * 4);
      byte[] out = new byte[end - start];
      body.copyTo(dataOffset + start, out, 0, out.length);
      return out;
    }
  }

  /** Where a stream's record batches keep image.data (a binary child of the struct "image"). */
  static final class Layout {
    final int column; // the struct's column index
    final int ordinal; // data's ordinal in the struct
    final int buffer; // the index of data's values buffer in a record batch body

    private Layout(int column, int ordinal, int buffer) {
      this.column = column;
      this.ordinal = ordinal;
      this.buffer = buffer;
    }

    /** image.data's layout in streams of schema s, or null when s has no such column. */
    static Layout of(Schema s) {
      int buffer = 0;
      for (int col = 0; col < s.getFields().size(); col++) {
        Field f = s.getFields().get(col);
        if (f.getName().equals("image") && f.getType() instanceof ArrowType.Struct) {
          buffer += TypeLayout.getTypeBufferCount(f.getType());
          List<Field> children = f.getChildren();
          for (int i = 0; i < children.size(); i++) {
            Field c = children.get(i);
            if (c.getName().equals("data") && c.getType() instanceof ArrowType.Binary) {
              return new Layout(col, i, buffer + 2); // validity, offsets, values
            }
            buffer += buffers(c);
          }
          return null;
        }
        buffer += buffers(f);
      }
      return null;
    }
  }

  /** The number of buffers field f and its descendants have in a record batch body. */
  private static int buffers(Field f) {
    int n = TypeLayout.getTypeBufferCount(f.getType());
    for (Field c : f.getChildren()) {
      n += buffers(c);
    }
    return n;
  }
}
