package io.imageflight.spark;

import io.grpc.CallOptions;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.arrow.flatbuf.Message;
import org.apache.arrow.flatbuf.MessageHeader;
import org.apache.arrow.flatbuf.RecordBatch;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.StructVector;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.metric.CustomTaskMetric;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.vectorized.ArrowColumnVector;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;

/**
 * Streams one endpoint (DoGet) into Spark as ColumnarBatches of the stream's own Arrow
 * vectors, failing over between the endpoint's locations and resuming a broken stream on the
 * next one with {@code ;skip=N} (docs/protocol.md §2), as the Go and Python clients do.
 */
final class EndpointReader implements PartitionReader<ColumnarBatch> {
  /** Creates the readers on the executors. */
  static final class Factory implements PartitionReaderFactory {
    private static final long serialVersionUID = 1L;
    private final ReadOptions options;
    private final StructType readSchema;

    Factory(ReadOptions options, StructType readSchema) {
      this.options = options;
      this.readSchema = readSchema;
    }

    @Override
    public boolean supportColumnarReads(InputPartition partition) {
      return !(partition instanceof CountPartition);
    }

    @Override
    public PartitionReader<InternalRow> createReader(InputPartition partition) {
      if (partition instanceof CountPartition) {
        return ((CountPartition) partition).reader();
      }
      throw new UnsupportedOperationException("imageflight reads its streams as columnar batches only");
    }

    @Override
    public PartitionReader<ColumnarBatch> createColumnarReader(InputPartition partition) {
      return new EndpointReader(options, readSchema, (EndpointPartition) partition);
    }
  }

  private final ReadOptions options;
  private final StructType readSchema;
  private final EndpointPartition ep;
  private final BufferAllocator allocator = new RootAllocator(Long.MAX_VALUE);
  private final BodyPool bodies = new BodyPool(allocator);
  private Schema schema;
  private VectorSchemaRoot root;
  private int[] columns; // readSchema field i -> root vector index
  private ColumnarBatch batch;
  private ImageColumnVector.Layout imageData; // image.data in the stream's batches, or null
  private MessageBody pixels; // the body the current batch's image.data reads from, or null

  private int location; // index into ep.locations of the stream being read
  private byte[] ticket;
  private Context.CancellableContext call;
  private Iterator<FlightData> stream;
  private StallWatchdog watchdog; // null with stallTimeout off
  private final List<String> errors = new ArrayList<>();

  private long rows;
  private long nextOffset = -1;
  private long bytes;
  private long invalid;
  private long resumes;
  private long failovers;
  private long stalls;

  EndpointReader(ReadOptions options, StructType readSchema, EndpointPartition ep) {
    this.options = options;
    this.readSchema = readSchema;
    this.ep = ep;
    this.ticket = ep.ticket;
  }

  @Override
  public boolean next() {
    while (true) {
      String loc = ep.locations[location];
      try {
        if (stream == null) {
          open(loc);
        }
        if (!more()) {
          stream = null;
          return false;
        }
        try (FlightData d = stream.next()) {
          if (accept(d)) {
            return true;
          }
        }
      } catch (StatusRuntimeException e) {
        failed(loc, e);
      }
    }
  }

  private void open(String loc) {
    call = Context.current().withCancellation();
    Context prev = call.attach();
    try {
      stream = ClientCalls.blockingServerStreamingCall(FlightClient.authed(loc, options).newCall(
          FlightClient.DO_GET, CallOptions.DEFAULT), FlightProto.ticket(ticket));
    } finally {
      call.detach(prev);
    }
    if (options.stallTimeoutSeconds > 0) {
      watchdog = new StallWatchdog(options.stallTimeoutSeconds, call, loc);
    }
  }

  /** stream.hasNext(), the wait watched for a stall. */
  private boolean more() {
    if (watchdog == null) {
      return stream.hasNext();
    }
    watchdog.waiting();
    try {
      return stream.hasNext();
    } finally {
      watchdog.received();
    }
  }

  /** Decides after a failed stream: next location (resuming), or give up. */
  private void failed(String loc, StatusRuntimeException e) {
    boolean stalled = watchdog != null && watchdog.fired();
    if (stalled) {
      stalls++;
      errors.add(loc + ": " + watchdog.reason());
    } else {
      errors.add(loc + ": " + e.getStatus());
    }
    cancel();
    // A stall is the location's fault, whatever status the cancelled call ended with.
    Status.Code code = stalled ? Status.Code.DEADLINE_EXCEEDED : e.getStatus().getCode();
    if (code == Status.Code.UNAUTHENTICATED && options.username != null && options.token == null
        && errors.size() == 1) {
      FlightClient.token(options, true);
      return; // same location, same ticket, with a fresh token
    }
    if (!retryable(code)) {
      throw new IllegalStateException("imageflight: endpoint " + ep.index + " on " + loc + ": " + e.getStatus()
          + (code == Status.Code.FAILED_PRECONDITION
              ? " (the plan expired or the coordinator dropped it: run the query again)" : ""), e);
    }
    if (rows > 0 || nextOffset >= 0) {
      if (nextOffset < 0) {
        throw new IllegalStateException("imageflight: endpoint " + ep.index + " on " + loc + " failed after "
            + rows + " rows without a resume offset: " + e.getStatus(), e);
      }
      ticket = Wire.resumeTicket(ep.ticket, nextOffset);
      resumes++;
    } else {
      failovers++;
    }
    location++;
    if (location >= ep.locations.length) {
      throw new IllegalStateException("imageflight: endpoint " + ep.index + ": every location failed after "
          + rows + " rows (" + String.join("; ", errors) + ")", e);
    }
  }

  /** Codes for which another location may succeed (docs/protocol.md §2). */
  private static boolean retryable(Status.Code code) {
    switch (code) {
      case INVALID_ARGUMENT:
      case NOT_FOUND:
      case PERMISSION_DENIED:
      case UNAUTHENTICATED:
      case FAILED_PRECONDITION:
      case RESOURCE_EXHAUSTED:
      case CANCELLED:
        return false;
      default:
        return true;
    }
  }

  /** Takes one FlightData; true when it made a batch with rows for Spark. */
  private boolean accept(FlightData d) {
    if (d.header.length == 0) {
      return false;
    }
    Message msg = Message.getRootAsMessage(ByteBuffer.wrap(d.header));
    switch (msg.headerType()) {
      case MessageHeader.Schema:
        Schema s = MessageSerializer.deserializeSchema(msg);
        if (schema == null) {
          schema = s;
          mapColumns(s);
          imageData = ImageColumnVector.Layout.of(s);
        } else if (!schema.equals(s)) {
          throw Status.INTERNAL.withDescription("imageflight: a resumed stream's schema differs: " + s).asRuntimeException();
        }
        return false;
      case MessageHeader.RecordBatch:
        if (schema == null) {
          throw Status.INTERNAL.withDescription("imageflight: record batch before the schema").asRuntimeException();
        }
        // A root per batch: Spark may close the batch it was given (closing a struct vector
        // drops its children), and the previous batch is not used once next() is called.
        if (root != null) {
          root.close();
        }
        root = VectorSchemaRoot.create(schema, allocator);
        RecordBatch rb = (RecordBatch) msg.header(new RecordBatch());
        MessageBody body = d.body != null ? d.body : MessageBody.EMPTY;
        bytes += body.length();
        // The pixels stay in the message body (ImageColumnVector) when Spark reads them.
        int keep = imageData != null && body.length() > 0 ? imageData.buffer : -1;
        try (ArrowRecordBatch arb = body.recordBatch(rb, keep, bodies)) {
          new VectorLoader(root).load(arb);
        } catch (java.io.IOException | RuntimeException e) {
          throw Status.INTERNAL.withDescription("imageflight: bad record batch (" + rb.length() + " rows, "
              + rb.nodesLength() + " nodes, " + rb.buffersLength() + " buffers, header " + d.header.length
              + " bytes) for " + schema + ": " + e)
              .withCause(e).asRuntimeException();
        }
        if (pixels != null) {
          pixels.close();
          pixels = null;
        }
        if (keep >= 0) { // the batch's until the next one
          pixels = body;
          d.body = null;
        }
        long n = Wire.parseBatchMeta(d.appMetadata);
        if (n >= 0) {
          nextOffset = n;
        }
        int count = root.getRowCount();
        rows += count;
        countInvalid(count);
        if (count == 0) {
          return false;
        }
        ColumnVector[] cols = new ColumnVector[columns.length];
        for (int i = 0; i < columns.length; i++) {
          FieldVector v = root.getVector(columns[i]);
          if (v instanceof org.apache.arrow.vector.complex.FixedSizeListVector) {
            cols[i] = new TensorColumnVector(readSchema.fields()[i].dataType(), (org.apache.arrow.vector.complex.FixedSizeListVector) v);
          } else if (pixels != null && columns[i] == imageData.column) {
            cols[i] = new ImageColumnVector((StructVector) v, imageData.ordinal, pixels, rb.buffers(keep).offset());
          } else {
            cols[i] = new ArrowColumnVector(v);
          }
        }
        batch = new ColumnarBatch(cols, count);
        return true;
      default:
        throw Status.INTERNAL.withDescription("imageflight: unexpected IPC message type " + msg.headerType())
            .asRuntimeException();
    }
  }

  private void mapColumns(Schema s) {
    columns = new int[readSchema.fields().length];
    for (int i = 0; i < columns.length; i++) {
      String name = readSchema.fields()[i].name();
      columns[i] = -1;
      for (int j = 0; j < s.getFields().size(); j++) {
        if (s.getFields().get(j).getName().equalsIgnoreCase(name)) {
          columns[i] = j;
        }
      }
      if (columns[i] < 0) {
        throw new IllegalStateException("imageflight: the stream has no column " + name + " (" + s + ")");
      }
    }
  }

  private void countInvalid(int count) {
    FieldVector img = root.getVector(0);
    if (!(img instanceof StructVector)) {
      return;
    }
    IntVector h = (IntVector) ((StructVector) img).getChild("height");
    for (int i = 0; i < count; i++) {
      if (!h.isNull(i) && h.get(i) == -1) {
        invalid++;
      }
    }
  }

  @Override
  public ColumnarBatch get() {
    return batch;
  }

  @Override
  public CustomTaskMetric[] currentMetricsValues() {
    return Metrics.values(rows, bytes, invalid, resumes, failovers, stalls);
  }

  private void cancel() {
    if (watchdog != null) {
      watchdog.close();
      watchdog = null;
    }
    if (call != null) {
      call.cancel(null);
      call = null;
    }
    if (stream != null) {
      // Messages already received (a LIMIT or take() stops early) hold Arrow buffers:
      // take them off the cancelled call and free them.
      try {
        while (stream.hasNext()) {
          stream.next().close();
        }
      } catch (RuntimeException expected) {
        // the call's CANCELLED status ends the drain
      }
      stream = null;
    }
  }

  @Override
  public void close() {
    cancel();
    if (root != null) {
      root.close();
      root = null;
    }
    if (pixels != null) {
      pixels.close();
      pixels = null;
    }
    bodies.close();
    try {
      allocator.close();
    } catch (IllegalStateException leak) {
      // The rows were delivered; a buffer still referenced elsewhere must not fail the task.
      org.slf4j.LoggerFactory.getLogger(EndpointReader.class).warn("imageflight: endpoint {}: {}", ep.index,
          leak.getMessage());
    }
  }
}
