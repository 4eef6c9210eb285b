package io.imageflight.spark;

import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The Arrow buffers record batches are loaded into (a message body but its pixels, which stay
 * in the body: {@link MessageBody#recordBatch}), recycled: a buffer that no batch uses any
 * more (its vectors were closed when the next batch was loaded) takes the next batch that
 * fits. Tensor batches are megabytes; a fresh direct buffer for each is faulted in page by
 * page, which cost as much CPU as the copy into it.
 */
final class BodyPool implements AutoCloseable {
  private final BufferAllocator allocator;
  private final ArrowBuf[] kept = new ArrowBuf[2]; // each holds one reference of the pool's

  BodyPool(BufferAllocator allocator) {
    this.allocator = allocator;
  }

  /** A buffer of at least n bytes with one reference for the caller. */
  synchronized ArrowBuf take(long n) {
    int spare = -1; // the slot for a new buffer: empty, else free but too small
    for (int i = 0; i < kept.length; i++) {
      ArrowBuf b = kept[i];
      if (b == null || b.refCnt() == 1) {
        if (b != null && b.capacity() >= n) {
          b.getReferenceManager().retain();
          return b;
        }
        if (spare < 0 || kept[spare] != null) {
          spare = i;
        }
      }
    }
    ArrowBuf b = allocator.buffer(n);
    if (spare >= 0) {
      if (kept[spare] != null) {
        kept[spare].close();
      }
      b.getReferenceManager().retain();
      kept[spare] = b;
    }
    return b;
  }

  @Override
  public synchronized void close() {
    for (int i = 0; i < kept.length; i++) {
      if (kept[i] != null) {
        kept[i].close();
        kept[i] = null;
      }
    }
  }
}
