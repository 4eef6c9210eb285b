package io.imageflight.spark;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The few Arrow Flight protobuf messages the connector exchanges (Flight.proto,
 * arrow.flight.protocol), encoded and decoded by hand. Depending on Arrow's flight-core would
 * tie the jar to one Arrow Java version (and Maven Central serves none as old as Spark 3.5's
 * Arrow 12); the messages are small, and a record batch's body goes straight from the gRPC
 * stream into an Arrow buffer (see {@link FlightDataMarshaller}).
 */
final class FlightProto {
  private FlightProto() {}

  static final int WIRE_VARINT = 0;
  static final int WIRE_FIXED64 = 1;
  static final int WIRE_BYTES = 2;
  static final int WIRE_FIXED32 = 5;

  /** FlightDescriptor{type = CMD (2), cmd}. */
  static byte[] commandDescriptor(byte[] cmd) {
    Writer w = new Writer();
    w.varintField(1, 2);
    w.bytesField(2, cmd);
    return w.toByteArray();
  }

  /** Ticket{ticket}. */
  static byte[] ticket(byte[] ticket) {
    Writer w = new Writer();
    w.bytesField(1, ticket);
    return w.toByteArray();
  }

  /** Action{type, body}. */
  static byte[] action(String type, byte[] body) {
    Writer w = new Writer();
    w.bytesField(1, type.getBytes(StandardCharsets.UTF_8));
    if (body.length > 0) {
      w.bytesField(2, body);
    }
    return w.toByteArray();
  }

  /** HandshakeRequest{} (the basic-auth credentials travel in a header). */
  static byte[] emptyHandshake() {
    return new byte[0];
  }

  /** Result{body}: the body. */
  static byte[] resultBody(byte[] msg) throws IOException {
    Reader r = new Reader(msg, 0, msg.length);
    byte[] body = new byte[0];
    while (r.more()) {
      int tag = r.tag();
      if (tag >>> 3 == 1 && (tag & 7) == WIRE_BYTES) {
        body = r.bytes();
      } else {
        r.skip(tag);
      }
    }
    return body;
  }

  /** An endpoint of a FlightInfo: its ticket and locations (URIs), preferred first. */
  static final class Endpoint {
    final byte[] ticket;
    final List<String> locations;

    Endpoint(byte[] ticket, List<String> locations) {
      this.ticket = ticket;
      this.locations = locations;
    }
  }

  /** FlightInfo: the IPC-encoded schema, the endpoints, the record count (-1: unknown). */
  static final class FlightInfo {
    byte[] schema = new byte[0];
    final List<Endpoint> endpoints = new ArrayList<>();
    long totalRecords = -1;
    long totalBytes = -1;

    static FlightInfo parse(byte[] msg) throws IOException {
      FlightInfo info = new FlightInfo();
      Reader r = new Reader(msg, 0, msg.length);
      while (r.more()) {
        int tag = r.tag();
        int field = tag >>> 3;
        if (field == 1 && (tag & 7) == WIRE_BYTES) {
          info.schema = r.bytes();
        } else if (field == 3 && (tag & 7) == WIRE_BYTES) {
          info.endpoints.add(parseEndpoint(r.sub()));
        } else if (field == 4 && (tag & 7) == WIRE_VARINT) {
          info.totalRecords = r.varint();
        } else if (field == 5 && (tag & 7) == WIRE_VARINT) {
          info.totalBytes = r.varint();
        } else {
          r.skip(tag);
        }
      }
      return info;
    }

    private static Endpoint parseEndpoint(Reader r) throws IOException {
      byte[] ticket = new byte[0];
      List<String> locations = new ArrayList<>();
      while (r.more()) {
        int tag = r.tag();
        int field = tag >>> 3;
        if (field == 1 && (tag & 7) == WIRE_BYTES) {
          Reader t = r.sub();
          while (t.more()) {
            int tt = t.tag();
            if (tt >>> 3 == 1 && (tt & 7) == WIRE_BYTES) {
              ticket = t.bytes();
            } else {
              t.skip(tt);
            }
          }
        } else if (field == 2 && (tag & 7) == WIRE_BYTES) {
          Reader l = r.sub();
          while (l.more()) {
            int lt = l.tag();
            if (lt >>> 3 == 1 && (lt & 7) == WIRE_BYTES) {
              locations.add(new String(l.bytes(), StandardCharsets.UTF_8));
            } else {
              l.skip(lt);
            }
          }
        } else {
          r.skip(tag);
        }
      }
      return new Endpoint(ticket, locations);
    }
  }

  /** Protobuf wire-format writer for the request messages. */
  static final class Writer {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    void varint(long v) {
      while ((v & ~0x7FL) != 0) {
        out.write((int) ((v & 0x7F) | 0x80));
        v >>>= 7;
      }
      out.write((int) v);
    }

    void varintField(int field, long v) {
      varint((long) field << 3 | WIRE_VARINT);
      varint(v);
    }

    void bytesField(int field, byte[] b) {
      varint((long) field << 3 | WIRE_BYTES);
      varint(b.length);
      out.write(b, 0, b.length);
    }

    byte[] toByteArray() {
      return out.toByteArray();
    }
  }

  /** Protobuf wire-format reader over a byte range. */
  static final class Reader {
    private final byte[] buf;
    private int pos;
    private final int end;

    Reader(byte[] buf, int off, int len) {
      this.buf = buf;
      this.pos = off;
      this.end = off + len;
    }

    boolean more() {
      return pos < end;
    }

    int tag() throws IOException {
      return (int) varint();
    }

    long varint() throws IOException {
      long v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= end) {
          throw new EOFException("protobuf: truncated varint");
        }
        byte b = buf[pos++];
        v |= (long) (b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
          return v;
        }
      }
      throw new IOException("protobuf: varint longer than 64 bits");
    }

    private int length() throws IOException {
      long n = varint();
      if (n < 0 || n > end - pos) {
        throw new EOFException("protobuf: field length " + n + " beyond the message");
      }
      return (int) n;
    }

    byte[] bytes() throws IOException {
      int n = length();
      byte[] b = new byte[n];
      System.arraycopy(buf, pos, b, 0, n);
      pos += n;
      return b;
    }

    Reader sub() throws IOException {
      int n = length();
      Reader r = new Reader(buf, pos, n);
      pos += n;
      return r;
    }

    void skip(int tag) throws IOException {
      switch (tag & 7) {
        case WIRE_VARINT:
          varint();
          break;
        case WIRE_FIXED64:
          advance(8);
          break;
        case WIRE_BYTES:
          advance(length());
          break;
        case WIRE_FIXED32:
          advance(4);
          break;
        default:
          throw new IOException("protobuf: unsupported wire type " + (tag & 7));
      }
    }

    private void advance(int n) throws EOFException {
      if (n > end - pos) {
        throw new EOFException("protobuf: truncated field");
      }
      pos += n;
    }
  }

  /** Reads a varint from a stream; -1 at a clean end of stream before its first byte. */
  static long streamVarint(InputStream in, boolean eofOk) throws IOException {
    long v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      int b = in.read();
      if (b < 0) {
        if (eofOk && shift == 0) {
          return -1;
        }
        throw new EOFException("protobuf: truncated varint");
      }
      v |= (long) (b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        return v;
      }
    }
    throw new IOException("protobuf: varint longer than 64 bits");
  }

  static byte[] readFully(InputStream in, int n) throws IOException {
    byte[] b = new byte[n];
    int off = 0;
    while (off < n) {
      int r = in.read(b, off, n - off);
      if (r < 0) {
        throw new EOFException("protobuf: truncated field");
      }
      off += r;
    }
    return b;
  }

  static void skipFully(InputStream in, long n) throws IOException {
    while (n > 0) {
      long s = in.skip(n);
      if (s <= 0) {
        if (in.read() < 0) {
          throw new EOFException("protobuf: truncated field");
        }
        s = 1;
      }
      n -= s;
    }
  }
}
