package io.imageflight.spark;

import io.grpc.Detachable;
import io.grpc.HasByteBuffer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.flatbuf.Buffer;
import org.apache.arrow.flatbuf.RecordBatch;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;

/**
 * A FlightData message's body where gRPC received it: the pieces of its Netty buffers (an
 * HTTP/2 frame's payload each, 16 KiB), held until closed. The image bytes are copied once,
 * from here into the byte[] Spark asks for ({@link ImageColumnVector}); only the small
 * buffers (validity, offsets, heights...) are copied into Arrow memory. Copying the whole
 * body into one Arrow buffer first cost as much CPU as Spark's own copy (memory bandwidth:
 * the message is megabytes, out of cache by the time it is complete).
 */
final class MessageBody implements AutoCloseable {
  static final MessageBody EMPTY = new MessageBody(null, new ArrayList<>());

  private final InputStream owner; // holds the pieces' Netty buffers; null for a heap copy
  private final ByteBuffer[] pieces;
  private final long[] starts; // body offset of each piece, and the length at the end

  private MessageBody(InputStream owner, List<ByteBuffer> pieces) {
    this.owner = owner;
    this.pieces = pieces.toArray(new ByteBuffer[0]);
    this.starts = new long[this.pieces.length + 1];
    for (int i = 0; i < this.pieces.length; i++) {
      starts[i + 1] = starts[i] + this.pieces[i].remaining();
    }
  }

  /**
   * The next n bytes of in. A gRPC message stream gives up its buffers (Detachable) and
   * keeps those already read while marked, so the pieces stay valid until close(); any other
   * stream is copied to the heap.
   */
  static MessageBody read(InputStream in, long n) throws IOException {
    List<ByteBuffer> pieces = new ArrayList<>();
    if (in instanceof Detachable && in instanceof HasByteBuffer && ((HasByteBuffer) in).byteBufferSupported()) {
      InputStream owned = ((Detachable) in).detach();
      owned.mark(Integer.MAX_VALUE);
      try {
        long got = 0;
        while (got < n) {
          ByteBuffer b = ((HasByteBuffer) owned).getByteBuffer();
          if (b == null || !b.hasRemaining()) {
            throw new IOException("FlightData: truncated body (" + got + " of " + n + " bytes)");
          }
          int k = (int) Math.min(b.remaining(), n - got);
          ByteBuffer piece = b.slice();
          piece.limit(k);
          pieces.add(piece);
          if (owned.skip(k) != k) {
            throw new IOException("FlightData: body stream skipped short");
          }
          got += k;
        }
      } catch (IOException | RuntimeException e) {
        owned.close();
        throw e;
      }
      return new MessageBody(owned, pieces);
    }
    if (n > Integer.MAX_VALUE - 8) {
      throw new IOException("FlightData: body of " + n + " bytes");
    }
    pieces.add(ByteBuffer.wrap(FlightProto.readFully(in, (int) n)));
    return new MessageBody(null, pieces);
  }

  long length() {
    return starts[pieces.length];
  }

  /** The index of the piece holding body offset off. */
  private int piece(long off) {
    int lo = 0;
    int hi = pieces.length - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (starts[mid] <= off) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  /** Copies body bytes [off, off+n) to dst at dstOff. */
  void copyTo(long off, ArrowBuf dst, long dstOff, long n) {
    each(off, n, (b, at) -> dst.setBytes(dstOff + at, b));
  }

  /** Copies body bytes [off, off+n) to dst at dstOff. */
  void copyTo(long off, byte[] dst, int dstOff, int n) {
    each(off, n, (b, at) -> b.get(dst, dstOff + (int) at, b.remaining()));
  }

  private interface Sink {
    /** Takes b's remaining bytes, which are the range's from offset at. */
    void put(ByteBuffer b, long at);
  }

  /** Hands sink body bytes [off, off+n), a view of each piece they cross. */
  private void each(long off, long n, Sink sink) {
    if (off < 0 || n < 0 || off + n > length()) {
      throw new IndexOutOfBoundsException("body bytes [" + off + ", " + (off + n) + ") of " + length());
    }
    long done = 0;
    for (int i = piece(off); done < n; i++) {
      ByteBuffer b = pieces[i].duplicate();
      int from = (int) (off + done - starts[i]);
      int k = (int) Math.min(b.remaining() - from, n - done);
      b.position(from);
      b.limit(from + k);
      sink.put(b, done);
      done += k;
    }
  }

  /**
   * rb's buffers as an ArrowRecordBatch, copied from this body into one buffer of pool,
   * except buffer keep (if not -1): that one stays here and is given as an empty buffer.
   */
  ArrowRecordBatch recordBatch(RecordBatch rb, int keep, BodyPool pool) throws IOException {
    if (rb.length() > Integer.MAX_VALUE) {
      throw new IOException("record batch of " + rb.length() + " rows");
    }
    if (rb.compression() != null) {
      throw new IOException("compressed record batches are not supported (codec " + rb.compression().codec() + ")");
    }
    long n = length();
    long cut = 0; // body offset of the kept buffer
    long gap = 0; // its padded length, left out of the copy
    if (keep >= 0) {
      cut = rb.buffers(keep).offset();
      gap = Math.min((rb.buffers(keep).length() + 7) & ~7L, n - cut);
    }
    List<ArrowFieldNode> nodes = new ArrayList<>(rb.nodesLength());
    for (int i = 0; i < rb.nodesLength(); i++) {
      nodes.add(new ArrowFieldNode(rb.nodes(i).length(), rb.nodes(i).nullCount()));
    }
    try (ArrowBuf dst = pool.take(n - gap)) {
      copyTo(0, dst, 0, cut);
      copyTo(cut + gap, dst, cut, n - cut - gap);
      List<ArrowBuf> buffers = new ArrayList<>(rb.buffersLength());
      for (int i = 0; i < rb.buffersLength(); i++) {
        Buffer b = rb.buffers(i);
        if (i == keep) {
          buffers.add(dst.slice(cut, 0));
        } else if (b.offset() < 0 || b.length() < 0 || b.offset() + b.length() > n
            || (b.offset() < cut + gap && b.offset() + b.length() > cut)) {
          throw new IOException("buffer " + i + " [" + b.offset() + ", +" + b.length() + ") outside the body of " + n
              + " bytes or across buffer " + keep);
        } else {
          buffers.add(dst.slice(b.offset() < cut ? b.offset() : b.offset() - gap, b.length()));
        }
      }
      return new ArrowRecordBatch((int) rb.length(), nodes, buffers);
    }
  }

  @Override
  public void close() {
    if (owner != null) {
      try {
        owner.close();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }
}
