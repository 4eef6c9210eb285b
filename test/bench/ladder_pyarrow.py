#!/usr/bin/env python3
"""The transport ladder's last rung (issue 23): Flight DoGet from Go to pyarrow.

Builds and starts ``test/bench/ladder/cmd/ladder-server`` (the same synthetic Flight
source as ``BenchmarkLadder``'s flight rungs: 8 MiB batches of 1 MiB binary rows, sent
through pkg/flightcodec as a worker sends them, nothing decoded), then reads ``--mb`` MiB
with ``pyarrow.flight`` over loopback TCP (``grpc://``) and the Unix socket
(``grpc+unix://``): one warm-up read, then ``--repeats`` timed reads; prints the median
CPU per GB of client + server (user+sys), the split between them, GB/s, and the load.

    PYTHONPATH=clients/python .venv/bin/python test/bench/ladder_pyarrow.py [--mb 1024] [--tuning product]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import pyarrow.flight as flight

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# As the imageflight Python client connects (clients/python/imageflight/_connections.py).
OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read(client, messages):
    reader = client.do_get(flight.Ticket(str(messages).encode()))
    got = 0
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            return got
        got += chunk.data.column(0).buffers()[2].size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024, help="MiB per read (default 1024)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tuning", default="product", help="server gRPC sizes (ladder.Tunings; default: product, "
                    "what imageflight ships)")
    ap.add_argument("--msg-mb", type=int, default=8, help="MiB per batch (default 8, the worker's batch size)")
    ap.add_argument("--mallopt", type=int, default=0, metavar="BYTES",
                    help="mallopt(M_MMAP_THRESHOLD and M_TRIM_THRESHOLD) in this process first")
    ap.add_argument("--client-option", action="append", default=[], metavar="KEY=INT",
                    help="extra gRPC channel argument for pyarrow's client (repeatable)")
    args = ap.parse_args()
    if args.mallopt:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, args.mallopt), libc.mallopt(-1, 2 * args.mallopt)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
        print(f"mallopt({args.mallopt}): {ok}")
    options = OPTIONS + [(k, int(v)) for k, v in (o.split("=", 1) for o in args.client_option)]
    msg = args.msg_mb << 20
    messages = (args.mb * (1 << 20) + msg - 1) // msg
    total = messages * msg
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "ladder-server")
        subprocess.run(["go", "build", "-o", exe, "./test/bench/ladder/cmd/ladder-server"], cwd=ROOT, check=True)
        srv = subprocess.Popen([exe, "-dir", tmp, "-tuning", args.tuning, "-msg-mb", str(args.msg_mb)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        try:
            locs = json.loads(srv.stdout.readline())
            print(f"load average at start: {os.getloadavg()[0]:.2f}; {total / 1e9:.2f} GB per read, "
                  f"median of {args.repeats} after a warm-up, {args.msg_mb} MiB batches, server tuning {args.tuning!r}, "
                  f"client options {options[len(OPTIONS):]}")
            print(f"{'rung':<28} {'cpu-s/GB':>9} {'client':>8} {'server':>8} {'GB/s':>6}")
            for name in ("tcp", "unix"):
                client = flight.connect(locs[name], generic_options=options)
                if read(client, messages) != total:
                    sys.exit(f"{name}: short read")
                rows = []
                for _ in range(args.repeats):
                    c0, s0, t0 = self_cpu(), proc_cpu(locs["pid"]), time.perf_counter()
                    got = read(client, messages)
                    wall = time.perf_counter() - t0
                    c, s = self_cpu() - c0, proc_cpu(locs["pid"]) - s0
                    if got != total:
                        sys.exit(f"{name}: read {got} of {total} bytes")
                    gb = total / 1e9
                    rows.append(((c + s) / gb, c / gb, s / gb, gb / wall))
                client.close()
                med = sorted(rows)[len(rows) // 2]
                print(f"{'flight/' + name + ' -> pyarrow':<28} {med[0]:>9.3f} {med[1]:>8.3f} {med[2]:>8.3f} "
                      f"{statistics.median(r[3] for r in rows):>6.2f}")
            print(f"load average at end: {os.getloadavg()[0]:.2f}")
        finally:
            srv.stdin.close()
            srv.wait(timeout=30)


if __name__ == "__main__":
    main()
