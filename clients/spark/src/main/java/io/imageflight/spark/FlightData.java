package io.imageflight.spark;

import java.io.IOException;
import java.io.InputStream;

/**
 * One FlightData message of a DoGet stream: the Arrow IPC message header (a flatbuffer), the
 * app_metadata ({"next": N}, docs/protocol.md) and the body, left in gRPC's buffers
 * ({@link MessageBody}: no protobuf ByteString, byte[] or Arrow copy in between).
 */
final class FlightData implements AutoCloseable {
  byte[] header = new byte[0];
  byte[] appMetadata;
  MessageBody body;

  @Override
  public void close() {
    if (body != null) {
      body.close();
      body = null;
    }
  }

  /** The gRPC marshaller for DoGet's responses; requests are never FlightData. */
  static final class Marshaller implements io.grpc.MethodDescriptor.Marshaller<FlightData> {
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
            d.body = MessageBody.read(in, n);
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
