package io.imageflight.spark;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.InternalNettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiators;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.codec.AdaptiveCumulator;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Arrow Flight over grpc-java, the two calls a read needs (GetFlightInfo on the coordinator,
 * DoGet on the workers) plus DoAction and the basic-auth Handshake. Channels are kept per
 * location and JVM (an executor runs many tasks against the same workers); TLS and
 * credentials come from {@link ReadOptions}.
 */
final class FlightClient {
  private FlightClient() {}

  static {
    // Our relocated gRPC and Netty read their settings under relocated names, so Spark's own
    // Netty settings do not reach them, nor ours Spark's. Unless given:
    // - direct buffers without the JDK's zeroing (gRPC fills each one from the socket);
    //   without --add-opens java.base/java.nio (Spark's launcher passes it) Netty falls back;
    // - Netty's unpooled allocator for gRPC instead of its pooled one: a message is a whole
    //   batch of images, megabytes held until complete, so the pool's chunks fill and are
    //   freed again for every message, and its allocation paths are large methods to JIT.
    // Measured on Spark reads of 362 MB, CPU-s per read (test/bench/README.md): gRPC's event
    // loop 0.15-0.19 -> 0.13-0.14 without zeroing; JVM 1.11-1.18 -> 1.03-1.08 unpooled (JIT).
    String netty = io.grpc.netty.shaded.io.netty.buffer.ByteBuf.class.getName().replace("buffer.ByteBuf", "");
    String grpc = NettyChannelBuilder.class.getName().replace("NettyChannelBuilder", "");
    setDefault(netty + "tryReflectionSetAccessible", "true");
    setDefault(netty + "allocator.type", "unpooled");
    setDefault(grpc + "useCustomAllocator", "true");
  }

  private static void setDefault(String property, String value) {
    if (System.getProperty(property) == null) {
      System.setProperty(property, value);
    }
  }

  private static final String SERVICE = "arrow.flight.protocol.FlightService";
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private static final ConcurrentHashMap<String, ManagedChannel> CHANNELS = new ConcurrentHashMap<>();
  /** Bearer tokens from a handshake, per coordinator and user, shared by this JVM's tasks. */
  private static final Map<String, String> TOKENS = new ConcurrentHashMap<>();

  /** Byte arrays as gRPC messages: the codec is FlightProto. */
  static final MethodDescriptor.Marshaller<byte[]> BYTES =
      new MethodDescriptor.Marshaller<byte[]>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream in) {
          try {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(Math.max(in.available(), 32));
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) > 0) {
              out.write(buf, 0, n);
            }
            return out.toByteArray();
          } catch (IOException e) {
            throw Status.INTERNAL.withCause(e).asRuntimeException();
          }
        }
      };

  private static MethodDescriptor<byte[], byte[]> method(String name, MethodDescriptor.MethodType type) {
    return MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, name))
        .setRequestMarshaller(BYTES)
        .setResponseMarshaller(BYTES)
        .build();
  }

  static final MethodDescriptor<byte[], byte[]> GET_FLIGHT_INFO =
      method("GetFlightInfo", MethodDescriptor.MethodType.UNARY);
  static final MethodDescriptor<byte[], byte[]> GET_SCHEMA =
      method("GetSchema", MethodDescriptor.MethodType.UNARY);
  static final MethodDescriptor<byte[], byte[]> DO_ACTION =
      method("DoAction", MethodDescriptor.MethodType.SERVER_STREAMING);
  static final MethodDescriptor<byte[], byte[]> HANDSHAKE =
      method("Handshake", MethodDescriptor.MethodType.BIDI_STREAMING);

  static final MethodDescriptor<byte[], FlightData> DO_GET = MethodDescriptor.<byte[], FlightData>newBuilder()
      .setType(MethodDescriptor.MethodType.SERVER_STREAMING)
      .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "DoGet"))
      .setRequestMarshaller(BYTES)
      .setResponseMarshaller(new FlightData.Marshaller())
      .build();

  /** grpc://host:port, grpc+tcp://host:port, grpc+tls://host:port, or host:port. */
  static URI parseLocation(String location) {
    String s = location.contains("://") ? location : "grpc://" + location;
    URI u = URI.create(s);
    if (u.getHost() == null || u.getPort() < 0) {
      throw new IllegalArgumentException("imageflight: location " + location + " is not scheme://host:port");
    }
    switch (u.getScheme()) {
      case "grpc":
      case "grpc+tcp":
      case "grpc+tls":
        return u;
      default:
        throw new IllegalArgumentException("imageflight: unsupported location scheme in " + location
            + " (grpc://, grpc+tcp:// or grpc+tls://)");
    }
  }

  static ManagedChannel channel(String location, ReadOptions opts) {
    String key = location + "|" + opts.tlsCAFile + "|" + opts.tlsServerName;
    return CHANNELS.computeIfAbsent(key, k -> open(location, opts));
  }

  private static ManagedChannel open(String location, ReadOptions opts) {
    URI u = parseLocation(location);
    NettyChannelBuilder b = NettyChannelBuilder.forAddress(u.getHost(), u.getPort())
        // One 1080p BGR image is 6.2 MB; a batch holds several.
        .maxInboundMessageSize(Integer.MAX_VALUE)
        .maxInboundMetadataSize(1 << 20);
    InternalProtocolNegotiator.ProtocolNegotiator negotiator;
    if ("grpc+tls".equals(u.getScheme())) {
      try {
        io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder ssl = GrpcSslContexts.forClient();
        if (opts.tlsCAFile != null) {
          ssl.trustManager(new File(opts.tlsCAFile));
        }
        negotiator = InternalProtocolNegotiators.tls(ssl.build(), null, null);
      } catch (IOException e) {
        throw new IllegalArgumentException("imageflight: TLS for " + location + ": " + e.getMessage(), e);
      }
      if (opts.tlsServerName != null) {
        b.overrideAuthority(opts.tlsServerName);
      }
    } else {
      negotiator = InternalProtocolNegotiators.plaintext();
    }
    InternalNettyChannelBuilder.setProtocolNegotiatorFactory(b, () -> new Composing(negotiator));
    return b.build();
  }

  /**
   * A negotiator that gives gRPC's HTTP/2 handler a composing cumulator. Netty's default
   * copies every socket read into one cumulation buffer whenever a frame spans two reads,
   * which on a stream of 16 KiB frames is nearly every read: a fresh direct buffer, zeroed,
   * filled by a copy and freed, for each one. Composing keeps reads of 1 KiB or more as
   * they came (frames become slices of them) and merges only small tails.
   */
  private static final class Composing implements InternalProtocolNegotiator.ProtocolNegotiator {
    private final InternalProtocolNegotiator.ProtocolNegotiator next;

    Composing(InternalProtocolNegotiator.ProtocolNegotiator next) {
      this.next = next;
    }

    @Override
    public io.grpc.netty.shaded.io.netty.util.AsciiString scheme() {
      return next.scheme();
    }

    @Override
    public io.grpc.netty.shaded.io.netty.channel.ChannelHandler newHandler(GrpcHttp2ConnectionHandler grpc) {
      grpc.setCumulator(new AdaptiveCumulator(1024));
      return next.newHandler(grpc);
    }

    @Override
    public void close() {
      next.close();
    }
  }

  /** The channel with the bearer token of opts (a token option, or a handshake's). */
  static Channel authed(String location, ReadOptions opts) {
    Channel ch = channel(location, opts);
    String token = token(opts, false);
    if (token == null) {
      return ch;
    }
    Metadata md = new Metadata();
    md.put(AUTHORIZATION, "Bearer " + token);
    return ClientInterceptors.intercept(ch, MetadataUtils.newAttachHeadersInterceptor(md));
  }

  /** opts' bearer token: the token option, else a basic-auth handshake with the coordinator. */
  static String token(ReadOptions opts, boolean renew) {
    if (opts.token != null) {
      return opts.token;
    }
    if (opts.username == null) {
      return null;
    }
    // Keyed by the password too: another password must not reuse this one's token.
    String key = opts.coordinator + "|" + opts.username + "|" + opts.password;
    if (!renew) {
      String t = TOKENS.get(key);
      if (t != null) {
        return t;
      }
    }
    String t = handshake(opts);
    TOKENS.put(key, t);
    return t;
  }

  private static String handshake(ReadOptions opts) {
    Metadata md = new Metadata();
    String basic = opts.username + ":" + (opts.password == null ? "" : opts.password);
    md.put(AUTHORIZATION, "Basic " + Base64.getEncoder().encodeToString(basic.getBytes(StandardCharsets.UTF_8)));
    AtomicReference<Metadata> headers = new AtomicReference<>();
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    Channel ch = ClientInterceptors.intercept(channel(opts.coordinator, opts),
        MetadataUtils.newAttachHeadersInterceptor(md),
        MetadataUtils.newCaptureMetadataInterceptor(headers, trailers));
    CountDownLatch done = new CountDownLatch(1);
    AtomicReference<Throwable> err = new AtomicReference<>();
    StreamObserver<byte[]> req = ClientCalls.asyncBidiStreamingCall(
        ch.newCall(HANDSHAKE, CallOptions.DEFAULT.withDeadlineAfter(opts.timeoutSeconds, TimeUnit.SECONDS)),
        new StreamObserver<byte[]>() {
          @Override
          public void onNext(byte[] value) {}

          @Override
          public void onError(Throwable t) {
            err.set(t);
            done.countDown();
          }

          @Override
          public void onCompleted() {
            done.countDown();
          }
        });
    req.onNext(FlightProto.emptyHandshake());
    req.onCompleted();
    try {
      done.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw Status.CANCELLED.withCause(e).asRuntimeException();
    }
    if (err.get() != null) {
      throw Status.fromThrowable(err.get()).augmentDescription("imageflight: handshake with " + opts.coordinator)
          .asRuntimeException();
    }
    for (AtomicReference<Metadata> ref : java.util.Arrays.asList(headers, trailers)) {
      Metadata m = ref.get();
      String v = m == null ? null : m.get(AUTHORIZATION);
      if (v != null && v.regionMatches(true, 0, "Bearer ", 0, 7)) {
        return v.substring(7);
      }
    }
    throw Status.UNAUTHENTICATED.withDescription("imageflight: the coordinator's handshake answered no bearer token")
        .asRuntimeException();
  }

  static FlightProto.FlightInfo getFlightInfo(ReadOptions opts, byte[] command) {
    byte[] answer = withAuthRetry(opts, () -> ClientCalls.blockingUnaryCall(authed(opts.coordinator, opts),
        GET_FLIGHT_INFO, CallOptions.DEFAULT.withDeadlineAfter(opts.timeoutSeconds, TimeUnit.SECONDS),
        FlightProto.commandDescriptor(command)));
    try {
      return FlightProto.FlightInfo.parse(answer);
    } catch (IOException e) {
      throw Status.INTERNAL.withDescription("imageflight: bad FlightInfo from " + opts.coordinator + ": " + e)
          .asRuntimeException();
    }
  }

  /** GetSchema: the IPC-encoded schema of command's read, without planning it. */
  static byte[] getSchema(ReadOptions opts, byte[] command) {
    byte[] answer = withAuthRetry(opts, () -> ClientCalls.blockingUnaryCall(authed(opts.coordinator, opts),
        GET_SCHEMA, CallOptions.DEFAULT.withDeadlineAfter(opts.timeoutSeconds, TimeUnit.SECONDS),
        FlightProto.commandDescriptor(command)));
    try {
      return FlightProto.resultBody(answer); // SchemaResult{schema = 1}
    } catch (IOException e) {
      throw Status.INTERNAL.withDescription("imageflight: bad SchemaResult from " + opts.coordinator + ": " + e)
          .asRuntimeException();
    }
  }

  static byte[] doAction(ReadOptions opts, String location, String type) {
    Iterator<byte[]> it = withAuthRetry(opts, () -> ClientCalls.blockingServerStreamingCall(authed(location, opts),
        DO_ACTION, CallOptions.DEFAULT.withDeadlineAfter(opts.timeoutSeconds, TimeUnit.SECONDS),
        FlightProto.action(type, new byte[0])));
    byte[] body = new byte[0];
    try {
      while (it.hasNext()) {
        body = FlightProto.resultBody(it.next());
      }
    } catch (IOException e) {
      throw Status.INTERNAL.withCause(e).asRuntimeException();
    }
    return body;
  }

  interface Call<T> {
    T run();
  }

  /** Runs call; on Unauthenticated with a handshake login, authenticates again once. */
  static <T> T withAuthRetry(ReadOptions opts, Call<T> call) {
    try {
      return call.run();
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() == Status.Code.UNAUTHENTICATED && opts.username != null && opts.token == null) {
        token(opts, true);
        return call.run();
      }
      throw e;
    }
  }
}
