package io.imageflight.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The client side of the resume contract (docs/protocol.md §2, checked against
 * pkg/wire/testdata/vectors.json like the Go and Python clients): a batch's app_metadata
 * {"next": N} and the ticket suffix ";skip=N" that resumes a broken stream elsewhere.
 */
final class Wire {
  private Wire() {}

  static final ObjectMapper JSON = new ObjectMapper();
  /** Trailing bytes after the JSON value ("{...}x") make app_metadata unparseable. */
  private static final com.fasterxml.jackson.databind.ObjectReader STRICT =
      JSON.reader().with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final byte[] SKIP = ";skip=".getBytes(StandardCharsets.US_ASCII);

  /** The ticket that resumes after skip files: the plain ticket for 0 (never ";skip=0"). */
  static byte[] resumeTicket(byte[] ticket, long skip) {
    if (skip < 0 || skip >= 1L << 31) {
      throw new IllegalArgumentException("skip " + skip + " out of range");
    }
    if (skip == 0) {
      return ticket;
    }
    byte[] n = Long.toString(skip).getBytes(StandardCharsets.US_ASCII);
    byte[] out = Arrays.copyOf(ticket, ticket.length + SKIP.length + n.length);
    System.arraycopy(SKIP, 0, out, ticket.length, SKIP.length);
    System.arraycopy(n, 0, out, ticket.length + SKIP.length, n.length);
    return out;
  }

  /** Splits a wire ticket into (ticket, skip) as a server does: the last ";skip=". */
  static Object[] parseResume(byte[] wire) {
    int at = -1;
    for (int i = wire.length - SKIP.length; i >= 0; i--) {
      if (regionEquals(wire, i, SKIP)) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      return new Object[] {wire, 0L};
    }
    String digits = new String(wire, at + SKIP.length, wire.length - at - SKIP.length, StandardCharsets.US_ASCII);
    if (digits.isEmpty() || digits.length() > 10 || (digits.length() > 1 && digits.charAt(0) == '0')) {
      throw new IllegalArgumentException("bad resume suffix ;skip=" + digits);
    }
    for (int i = 0; i < digits.length(); i++) {
      if (digits.charAt(i) < '0' || digits.charAt(i) > '9') {
        throw new IllegalArgumentException("bad resume suffix ;skip=" + digits);
      }
    }
    long n = Long.parseLong(digits);
    if (n == 0 || n >= 1L << 31) {
      throw new IllegalArgumentException("bad resume suffix ;skip=" + digits);
    }
    return new Object[] {Arrays.copyOf(wire, at), n};
  }

  private static boolean regionEquals(byte[] a, int off, byte[] b) {
    for (int i = 0; i < b.length; i++) {
      if (a[off + i] != b[i]) {
        return false;
      }
    }
    return true;
  }

  /** N of a batch's {"next": N}, or -1 when absent or not a non-negative integer. */
  static long parseBatchMeta(byte[] raw) {
    if (raw == null || raw.length == 0) {
      return -1;
    }
    try {
      JsonNode n = STRICT.readTree(raw);
      if (n == null || !n.isObject()) {
        return -1;
      }
      JsonNode next = n.get("next");
      if (next == null || !next.isIntegralNumber() || !next.canConvertToLong() || next.asLong() < 0) {
        return -1;
      }
      return next.asLong();
    } catch (java.io.IOException e) {
      return -1;
    }
  }
}
