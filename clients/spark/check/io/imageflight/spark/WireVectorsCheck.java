package io.imageflight.spark;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The connector's side of the wire contract against pkg/wire/testdata/vectors.json, as
 * test/python/test_wire_vectors.py checks the Python client's: resume suffixes, batch
 * app_metadata, and the signed tickets' suffixes. Compiled into the connector's package
 * (its codec is package-private) by test/e2e/spark_test.go. Prints "N passed, N failed".
 */
public final class WireVectorsCheck {
  public static void main(String[] args) throws Exception {
    JsonNode v = Wire.JSON.readTree(new File(args[0]));
    List<String> failed = new ArrayList<>();
    int passed = 0;
    for (JsonNode c : v.get("resume")) {
      byte[] ticket = bytes(c.get("ticket").asText());
      byte[] wire = bytes(c.get("wire").asText());
      Object[] back = Wire.parseResume(wire);
      boolean ok = new String(Wire.resumeTicket(ticket, c.get("skip").asLong()), StandardCharsets.UTF_8)
          .equals(c.get("wire").asText())
          && new String((byte[]) back[0], StandardCharsets.UTF_8).equals(c.get("ticket").asText())
          && (Long) back[1] == c.get("skip").asLong();
      passed += record(ok, "resume " + c.get("wire").asText(), failed);
    }
    for (JsonNode c : v.get("bad_resume")) {
      boolean refused;
      try {
        Wire.parseResume(bytes(c.asText()));
        refused = false;
      } catch (IllegalArgumentException e) {
        refused = true;
      }
      passed += record(refused, "bad resume " + c.asText(), failed);
    }
    for (JsonNode c : v.get("batch_meta")) {
      passed += record(Wire.parseBatchMeta(bytes(c.get("raw").asText())) == c.get("next").asLong(),
          "batch meta " + c.get("raw").asText(), failed);
    }
    for (JsonNode c : v.get("bad_batch_meta")) {
      passed += record(Wire.parseBatchMeta(bytes(c.asText())) == -1, "bad batch meta " + c.asText(), failed);
    }
    for (JsonNode c : v.get("tickets").get("cases")) {
      // Clients never look inside a ticket; they only add and strip the resume suffix.
      String wire = c.get("wire").asText();
      Object[] back = Wire.parseResume(bytes(wire));
      long skip = c.has("skip") ? c.get("skip").asLong() : 0;
      boolean ok = new String(Wire.resumeTicket((byte[]) back[0], (Long) back[1]), StandardCharsets.UTF_8).equals(wire)
          && ((Long) back[1] == skip || c.has("error_kind"));
      passed += record(ok, "ticket " + c.get("name").asText(), failed);
    }
    for (String f : failed) {
      System.out.println("FAIL " + f);
    }
    System.out.println(passed + " passed, " + failed.size() + " failed");
    System.exit(failed.isEmpty() ? 0 : 1);
  }

  private static int record(boolean ok, String name, List<String> failed) {
    if (!ok) {
      failed.add(name);
    }
    return ok ? 1 : 0;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
