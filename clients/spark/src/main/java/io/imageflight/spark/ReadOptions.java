package io.imageflight.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The options of {@code spark.read.format("imageflight")}: the Python data source's names and
 * meanings (clients/python/imageflight/spark.py, matched case-insensitively as Spark hands
 * them over), plus the Go client's TLS and credential settings. {@link #command} builds the
 * GetFlightInfo descriptor (docs/protocol.md §1); the server validates it again.
 */
final class ReadOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  static final String DEFAULT_COORDINATOR = "grpc://127.0.0.1:8815";
  static final String COORDINATOR_ENV = "IMAGEFLIGHT_COORDINATOR";

  private static final List<String> SUPPORTED = Arrays.asList(
      "coordinator", "path", "paths", "recursive", "recursiveFileLookup", "numPartitions",
      "dropInvalid", "dropImageFailures", "sampleRatio", "seed", "basePath", "pathGlobFilter",
      "fileExtensions", "limit", "partitionFilters", "transforms", "tensor", "model", "fastResize",
      "pixels", "failureReasons", "timeout", "stallTimeout", "tlsCAFile", "tlsServerName", "username",
      "password", "token");

  String coordinator;
  final List<String> paths = new ArrayList<>();
  boolean recursive;
  int numPartitions = -1;
  boolean dropImageFailures;
  double sampleRatio = 1.0;
  long seed;
  String basePath;
  String pathGlobFilter;
  List<String> fileExtensions;
  Long limit;
  String partitionFilters; // a JSON list (docs/protocol.md §1.2)
  String transforms; // JSON, docs/transforms.md
  String tensor; // JSON
  String model; // JSON, docs/models.md: ONNX on the workers, after transforms and tensor
  List<String> modelColumns = new ArrayList<>(); // the columns model adds
  boolean fastResize;
  boolean pixels = true;
  boolean failureReasons;
  long timeoutSeconds = 600;
  /**
   * Seconds a task may wait for the next message of a DoGet stream before the location counts
   * as hung and the stream goes on at the next one; 0: wait forever. 60 as in the Python source
   * and the Go client: far above a healthy pause (a decode of the largest image), far below
   * gRPC's own give-up on a peer that stopped answering (never, without keepalives).
   */
  double stallTimeoutSeconds = 60;
  String tlsCAFile;
  String tlsServerName;
  String username;
  String password;
  String token;

  static ReadOptions parse(Map<String, String> options) {
    ReadOptions o = new ReadOptions();
    String env = System.getenv(COORDINATOR_ENV);
    o.coordinator = env == null || env.isEmpty() ? DEFAULT_COORDINATOR : env;
    Map<String, String> canon = new TreeMap<>();
    for (String s : SUPPORTED) {
      canon.put(s.toLowerCase(Locale.ROOT), s);
    }
    String single = null;
    List<String> many = null;
    for (Map.Entry<String, String> e : options.entrySet()) {
      String name = canon.get(e.getKey().toLowerCase(Locale.ROOT));
      String v = e.getValue();
      if (name == null) {
        throw new IllegalArgumentException("imageflight: unknown option '" + e.getKey() + "' (supported: "
            + String.join(", ", SUPPORTED) + ")");
      }
      switch (name) {
        case "coordinator": o.coordinator = v; break;
        case "path": single = v; break;
        case "paths": many = stringList("paths", v, true); break;
        case "recursive":
        case "recursiveFileLookup": o.recursive = bool(name, v); break;
        case "numPartitions":
          o.numPartitions = (int) integer(name, v);
          if (o.numPartitions == 0 || o.numPartitions < -1) {
            throw new IllegalArgumentException("numPartitions must be -1 (server chooses) or a positive integer, got " + v);
          }
          break;
        case "dropInvalid":
        case "dropImageFailures": o.dropImageFailures = bool(name, v); break;
        case "sampleRatio":
          o.sampleRatio = number(name, v);
          if (!(o.sampleRatio >= 0 && o.sampleRatio <= 1)) {
            throw new IllegalArgumentException("sampleRatio must be in [0, 1], got " + v);
          }
          break;
        case "seed": o.seed = integer(name, v); break;
        case "basePath": o.basePath = absolute(v); break;
        case "pathGlobFilter": o.pathGlobFilter = v; break;
        case "fileExtensions": o.fileExtensions = stringList(name, v, false); break;
        case "limit":
          o.limit = integer(name, v);
          if (o.limit < 0) {
            throw new IllegalArgumentException("limit must be a file count >= 0, got " + v);
          }
          break;
        case "partitionFilters": o.partitionFilters = json(name, v, true); break;
        case "transforms": o.transforms = json(name, v, false); break;
        case "tensor": o.tensor = json(name, v, false); break;
        case "model":
          o.model = json(name, v, false);
          o.modelColumns = modelColumns(o.model);
          break;
        case "fastResize": o.fastResize = bool(name, v); break;
        case "pixels": o.pixels = bool(name, v); break;
        case "failureReasons": o.failureReasons = bool(name, v); break;
        case "timeout":
          double t = number(name, v);
          if (!(t > 0)) {
            throw new IllegalArgumentException("timeout must be > 0 seconds, got " + v);
          }
          o.timeoutSeconds = (long) Math.ceil(t);
          break;
        case "stallTimeout": o.stallTimeoutSeconds = stallTimeout(v); break;
        case "tlsCAFile": o.tlsCAFile = v; break;
        case "tlsServerName": o.tlsServerName = v; break;
        case "username": o.username = v; break;
        case "password": o.password = v; break;
        case "token": o.token = v; break;
        default: throw new AssertionError(name);
      }
    }
    // load(p): "path"; load(p1, p2, ...): "paths" (a JSON list), and both when Spark passes both.
    if (single != null) {
      o.paths.add(absolute(single));
    }
    if (many != null) {
      for (String p : many) {
        o.paths.add(absolute(p));
      }
    }
    if (o.paths.isEmpty()) {
      throw new IllegalArgumentException("imageflight: no path; use spark.read.format(\"imageflight\").load(path)");
    }
    FlightClient.parseLocation(o.coordinator);
    return o;
  }

  /** The descriptor for GetFlightInfo; headerOnly asks for header-only rows (pixels=false). */
  byte[] command(boolean headerOnly, String pushedFilters, Long pushedLimit) {
    ObjectNode c = Wire.JSON.createObjectNode();
    if (paths.size() == 1) {
      c.put("path", paths.get(0));
    } else {
      ArrayNode a = c.putArray("path");
      paths.forEach(a::add);
    }
    c.put("recursive", recursive);
    c.put("numPartitions", numPartitions);
    c.put("sampleRatio", sampleRatio);
    c.put("seed", seed);
    c.put("dropImageFailures", dropImageFailures);
    try {
      if (transforms != null) {
        c.set("transforms", Wire.JSON.readTree(transforms));
      }
      if (tensor != null) {
        c.set("tensor", Wire.JSON.readTree(tensor));
      }
      if (model != null) {
        c.set("model", Wire.JSON.readTree(model));
      }
      ArrayNode filters = Wire.JSON.createArrayNode();
      if (partitionFilters != null) {
        filters.addAll((ArrayNode) Wire.JSON.readTree(partitionFilters));
      }
      if (pushedFilters != null) {
        filters.addAll((ArrayNode) Wire.JSON.readTree(pushedFilters));
      }
      if (filters.size() > 0) {
        c.set("partitionFilters", filters);
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(e);
    }
    if (fastResize) {
      c.put("fastResize", true);
    }
    if (basePath != null) {
      c.put("basePath", basePath);
    }
    if (pathGlobFilter != null) {
      c.put("pathGlobFilter", pathGlobFilter);
    }
    if (fileExtensions != null) {
      ArrayNode a = c.putArray("fileExtensions");
      fileExtensions.forEach(a::add);
    }
    Long lim = limit;
    if (pushedLimit != null) {
      lim = lim == null ? pushedLimit : Math.min(lim, pushedLimit);
    }
    if (lim != null) {
      c.put("limit", lim);
    }
    if (!pixels || headerOnly) {
      c.put("pixels", false);
    }
    if (failureReasons) {
      c.put("failureReasons", true);
    }
    try {
      return Wire.JSON.writeValueAsBytes(c);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * True when the server refuses header-only rows: a pipeline's tensor needs pixels, unless a
   * model consumes it on the workers (then pixels=false leaves the image's pixels out and
   * keeps the model's columns, docs/models.md).
   */
  boolean needsPixels() {
    return (transforms != null || tensor != null) && model == null;
  }

  /**
   * The columns a model adds (fetchDict's keys, softMaxDict's and argMaxDict's values), as the
   * Python client's Plan.model_columns: never taken for partition columns.
   */
  static List<String> modelColumns(String model) {
    List<String> out = new ArrayList<>();
    try {
      JsonNode m = Wire.JSON.readTree(model);
      m.path("fetchDict").fieldNames().forEachRemaining(out::add);
      for (String key : new String[] {"softMaxDict", "argMaxDict"}) {
        m.path(key).elements().forEachRemaining(v -> out.add(v.asText()));
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(e);
    }
    return out;
  }

  /** Partition columns: every column after image that is not tensor, failure or a model's. */
  boolean isPartitionColumn(String name) {
    if (!Schemas.isPartitionColumn(name)) {
      return false;
    }
    for (String c : modelColumns) {
      if (c.equalsIgnoreCase(name)) {
        return false;
      }
    }
    return true;
  }

  /** A relative local path made absolute against this (the driver's) working folder, as Spark's load does. */
  static String absolute(String p) {
    if (p == null || p.trim().isEmpty()) {
      throw new IllegalArgumentException("imageflight: a path must be a non-empty string, got '" + p + "'");
    }
    if (p.contains("://") || p.startsWith("file:") || p.startsWith("/")) {
      return p;
    }
    return new File(p).getAbsolutePath();
  }

  /** The Python source's stallTimeout: seconds > 0, or "", "none", "off", "0" for no watchdog (0). */
  static double stallTimeout(String v) {
    String s = v == null ? "" : v.trim().toLowerCase(Locale.ROOT);
    if (s.isEmpty() || s.equals("none") || s.equals("off") || s.equals("0")) {
      return 0;
    }
    double d = number("stallTimeout", s);
    if (!(d > 0) || Double.isInfinite(d)) {
      throw new IllegalArgumentException("stallTimeout must be > 0 seconds (or none/off), got " + v);
    }
    return d;
  }

  static boolean bool(String name, String v) {
    String s = v == null ? "" : v.trim().toLowerCase(Locale.ROOT);
    switch (s) {
      case "true": case "1": case "yes": case "on": return true;
      case "false": case "0": case "no": case "off": return false;
      default: throw new IllegalArgumentException(name + " must be a boolean, got '" + v + "'");
    }
  }

  static long integer(String name, String v) {
    try {
      return Long.parseLong(v.trim());
    } catch (RuntimeException e) {
      try {
        double d = Double.parseDouble(v.trim());
        if (d == Math.rint(d) && Math.abs(d) < 9.0e15) {
          return (long) d;
        }
      } catch (RuntimeException ignored) {
        // reported below
      }
      throw new IllegalArgumentException(name + " must be an integer, got '" + v + "'");
    }
  }

  static double number(String name, String v) {
    try {
      double d = Double.parseDouble(v.trim());
      if (Double.isNaN(d)) {
        throw new NumberFormatException();
      }
      return d;
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(name + " must be a number, got '" + v + "'");
    }
  }

  /** A list of strings from a JSON list or (unless jsonOnly) a comma-separated string. */
  static List<String> stringList(String name, String v, boolean jsonOnly) {
    String t = v == null ? "" : v.trim();
    List<String> out = new ArrayList<>();
    if (t.startsWith("[")) {
      try {
        for (JsonNode n : Wire.JSON.readTree(t)) {
          if (!n.isTextual()) {
            throw new IllegalArgumentException(name + " must be a list of strings, got " + v);
          }
          out.add(n.asText());
        }
      } catch (IOException e) {
        throw new IllegalArgumentException(name + " must be a list of strings, got " + v);
      }
      return out;
    }
    if (jsonOnly) {
      throw new IllegalArgumentException(name + " must be a JSON list, got " + v);
    }
    for (String s : t.split(",")) {
      if (!s.trim().isEmpty()) {
        out.add(s.trim());
      }
    }
    return out;
  }

  static String json(String name, String v, boolean list) {
    try {
      JsonNode n = Wire.JSON.readTree(v);
      if (n == null || (list && !n.isArray())) {
        throw new IllegalArgumentException(name + " must be a JSON " + (list ? "list" : "value") + ", got " + v);
      }
      return Wire.JSON.writeValueAsString(n);
    } catch (IOException e) {
      throw new IllegalArgumentException(name + " must be JSON, got " + v);
    }
  }
}
