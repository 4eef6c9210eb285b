package io.imageflight.spark;

import io.grpc.HasByteBuffer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import org.apache.arrow.memory.ArrowBuf;

/**
 * One FlightData message of a DoGet stream: the Arrow IPC message header (a flatbuffer), the
 * app_metadata ({"next": N}, docs/protocol.md) and the body, read from the gRPC stream
 * straight into an Arrow buffer of the reader's {@link BodyPool} (one copy from gRPC's Netty
 * buffers: no protobuf ByteString or byte[] in between).
 */
final class FlightData implements AutoCloseable {
  byte[] header = new byte[0];
  byte[] appMetadata;
  ArrowBuf body;

  @Override
  public void close() {
    if (body != null) {
      body.close();
      body = null;
    }
  }

  /**
   * Copies n bytes of in into body. gRPC's message stream hands out its Netty buffers
   * (HasByteBuffer): each is copied straight into the Arrow buffer, one memory copy, where
   * ArrowBuf.setBytes(InputStream) would allocate a byte[] per chunk and copy twice.
   */
  static void readBody(InputStream in, ArrowBuf body, long n) throws IOException {
    long off = 0;
    if (in instanceof HasByteBuffer && ((HasByteBuffer) in).byteBufferSupported()) {
      while (off < n) {
        ByteBuffer b = ((HasByteBuffer) in).getByteBuffer();
        if (b == null || !b.hasRemaining()) {
          break;
        }
        int k = (int) Math.min(b.remaining(), n - off);
        b.limit(b.position() + k);
        body.setBytes(off, b);
        if (in.skip(k) != k) {
          throw new IOException("FlightData: body stream skipped short");
        }
        off += k;
      }
    }
    while (off < n) { // a stream without buffers (compressed), or what is left
      int r = body.setBytes(off, in, (int) Math.min(n - off, 1 << 20));
      if (r < 0) {
        throw new IOException("FlightData: truncated body");
      }
      off += r;
    }
    body.writerIndex(n);
  }

  /** The gRPC marshaller for DoGet's responses; requests are never FlightData. */
  static final class Marshaller implements io.grpc.MethodDescriptor.Marshaller<FlightData> {
    private final BodyPool bodies;

    Marshaller(BodyPool bodies) {
      this.bodies = bodies;
    }

    @Override
    public InputStream stream(FlightData value) {
      throw new UnsupportedOperationException("the connector never sends FlightData");
    }

    @Override
    public FlightData parse(InputStream in) {
      FlightData d = new FlightData();
      try {
        while (true) {
          long tag = FlightProto.streamVarint(in, true);
          if (tag < 0) {
            return d;
          }
          int field = (int) (tag >>> 3);
          int wire = (int) (tag & 7);
          if (wire != FlightProto.WIRE_BYTES) {
            if (wire == FlightProto.WIRE_VARINT) {
              FlightProto.streamVarint(in, false);
            } else if (wire == FlightProto.WIRE_FIXED64) {
              FlightProto.skipFully(in, 8);
            } else if (wire == FlightProto.WIRE_FIXED32) {
              FlightProto.skipFully(in, 4);
            } else {
              throw new IOException("FlightData: unsupported wire type " + wire);
            }
            continue;
          }
          long n = FlightProto.streamVarint(in, false);
          if (n < 0 || n > Integer.MAX_VALUE) {
            throw new IOException("FlightData: field length " + n);
          }
          if (field == 2) {
            d.header = FlightProto.readFully(in, (int) n);
          } else if (field == 3) {
            d.appMetadata = FlightProto.readFully(in, (int) n);
          } else if (field == 1000) {
            d.close();
            d.body = bodies.take(n);
            readBody(in, d.body, n);
          } else {
            FlightProto.skipFully(in, n);
          }
        }
      } catch (IOException | RuntimeException e) {
        d.close();
        throw io.grpc.Status.INTERNAL.withDescription("imageflight: bad FlightData: " + e)
            .withCause(e).asRuntimeException();
      }
    }
  }
}
