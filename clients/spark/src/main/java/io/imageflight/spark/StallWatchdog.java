package io.imageflight.spark;

import io.grpc.Context;
import io.grpc.Status;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The reader's stall watchdog (option {@code stallTimeout}): cancels a DoGet call when its task
 * has waited longer than the timeout for the stream's next message, so that the reader goes on
 * at the endpoint's next location with {@code ;skip=N}, as the Go and Python clients do. A hung
 * (or SIGSTOPped) worker keeps its connection open and sends nothing, and gRPC without
 * keepalives waits for it forever. Only the time the task waits counts, not the time Spark
 * spends on a batch it was given (the Go client's timer runs through both). One daemon thread
 * per JVM checks every armed stream.
 */
final class StallWatchdog implements AutoCloseable {
  private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "imageflight-stall-watchdog");
    t.setDaemon(true);
    return t;
  });

  private final double seconds;
  private final long limitNanos;
  private final Context.CancellableContext call;
  private final String location;
  private final ScheduledFuture<?> check;
  private volatile boolean waiting;
  private volatile long waitingSince;
  private volatile boolean fired;

  /** Arms a watchdog on call, the DoGet on location; checked every tenth of the timeout, at most every second. */
  StallWatchdog(double seconds, Context.CancellableContext call, String location) {
    this.seconds = seconds;
    this.limitNanos = (long) (seconds * 1e9);
    this.call = call;
    this.location = location;
    long period = Math.max(10_000_000L, Math.min(limitNanos / 10, 1_000_000_000L));
    this.check = TIMER.scheduleWithFixedDelay(this::check, period, period, TimeUnit.NANOSECONDS);
  }

  /** The task starts waiting for the stream's next message. */
  void waiting() {
    waitingSince = System.nanoTime();
    waiting = true;
  }

  /** The message arrived (or the wait ended otherwise). */
  void received() {
    waiting = false;
  }

  /** True once the watchdog cancelled the call. */
  boolean fired() {
    return fired;
  }

  /** Why the call was cancelled, for the reader's error list. */
  String reason() {
    return "no data from " + location + " for " + seconds + " s (stallTimeout; hung worker?)";
  }

  private void check() {
    if (waiting && !fired && System.nanoTime() - waitingSince >= limitNanos) {
      fired = true;
      call.cancel(Status.DEADLINE_EXCEEDED.withDescription("imageflight: " + reason()).asRuntimeException());
      check.cancel(false);
    }
  }

  @Override
  public void close() {
    check.cancel(false);
  }
}
