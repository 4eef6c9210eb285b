#!/usr/bin/env python3
"""GOMEMLIMIT from the memory budget (issue 23): a worker's RSS and GC CPU with and without
the limit the worker now sets from ``--memory-budget`` (pkg/server.MemoryLimit).

For each budget, starts ``coordinator --standalone --memory-budget B`` twice — with
``GOMEMLIMIT=off`` (the runtime's default: no limit, a collection when the heap doubles;
how workers ran before) and without GOMEMLIMIT (the worker sets budget + headroom) —
both with ``GODEBUG=gctrace=1``, reads the folder with the Python client (one warm-up, then
``--repeats`` passes) and prints per pass (median): the server's CPU-s, the GC's CPU-s
(from gctrace: assist + background + the two stop-the-world phases, idle marking left
out), collections, the server's peak RSS over the timed passes against the budget, and
the heap Go holds from the OS after them (``go_memstats_heap_sys_bytes``).

    test/bench/photos.sh      # the corpus, once
    PYTHONPATH=clients/python .venv/bin/python test/bench/memlimit_bench.py ~/.cache/imageflight-bench/photos
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_bench import REPO, Standalone, _status_kb, free_port, reset_peak  # noqa: E402

import imageflight  # noqa: E402

# "gc 12 @1.2s 3%: 0.01+5.2+0.02 ms clock, 0.03+1.1/4.8/0.5+0.05 ms cpu, 90->95->40 MB, ..."
GCTRACE = re.compile(r"^gc \d+ .* ([\d.]+)\+([\d.]+)/([\d.]+)/([\d.]+)\+([\d.]+) ms cpu", re.M)


def gc_cpu(log: str, start: int, end: int):
    """GC CPU-seconds and collections in log[start:end] (gctrace lines)."""
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", "replace")
    cpu, n = 0.0, 0
    for m in GCTRACE.finditer(text):
        stw1, assist, background, _idle, stw2 = (float(x) for x in m.groups())
        cpu += (stw1 + assist + background + stw2) / 1000
        n += 1
    return cpu, n


def go_heap_sys(metrics: str) -> int:
    """go_memstats_heap_sys_bytes from the server's /metrics: the heap Go holds from the OS."""
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("go_memstats_heap_sys_bytes "):
                return int(float(line.split()[1]))
    return 0


def run(binary: str, root: str, budget: int, limited: bool, repeats: int) -> dict:
    env = dict(os.environ, GODEBUG="gctrace=1")
    env.pop("GOMEMLIMIT", None)
    if not limited:
        env["GOMEMLIMIT"] = "off"
    with tempfile.TemporaryDirectory() as tmp:
        metrics = f"127.0.0.1:{free_port()}"
        srv = Standalone(binary, root, tmp, args=["--memory-budget", str(budget), "--metrics-listen", metrics],
                         env=env)
        try:
            imageflight.read_images(root, coordinator=srv.location, recursive=True)  # warm-up
            reset_peak(srv.proc.pid)
            rows = []
            for _ in range(repeats):
                c0, o0 = srv.cpu_seconds(), os.path.getsize(srv.log_path)
                t = imageflight.read_images(root, coordinator=srv.location, recursive=True)
                c1, o1 = srv.cpu_seconds(), os.path.getsize(srv.log_path)
                g, n = gc_cpu(srv.log_path, o0, o1)
                rows.append((c1 - c0, g, n))
                del t
            peak = _status_kb(srv.proc.pid, "VmHWM") * 1024
            heap = go_heap_sys(metrics)
        finally:
            srv.close()
    return {"cpu": statistics.median(r[0] for r in rows), "gc": statistics.median(r[1] for r in rows),
            "gcs": statistics.median(r[2] for r in rows), "peak": peak, "heap": heap}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--budgets", default="268435456,1073741824", help="comma-separated bytes")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as bindir:
        subprocess.run(["go", "build", "-o", bindir + os.sep, "./cmd/coordinator"], cwd=REPO, check=True)
        binary = os.path.join(bindir, "coordinator")
        print(f"load average at start: {os.getloadavg()[0]:.2f}; median of {args.repeats} passes after a warm-up")
        print(f"{'budget MiB':>10} {'GOMEMLIMIT':>18} {'server CPU-s':>12} {'GC CPU-s':>9} {'GCs':>5} "
              f"{'peak RSS MiB':>12} {'RSS/budget':>10} {'Go heap MiB':>11}")
        for b in (int(x) for x in args.budgets.split(",")):
            for limited in (False, True):
                r = run(binary, args.folder, b, limited, args.repeats)
                lim = f"{(b + max(b // 4, 128 << 20)) >> 20} MiB (set)" if limited else "off"
                print(f"{b >> 20:>10} {lim:>18} {r['cpu']:>12.2f} {r['gc']:>9.3f} {r['gcs']:>5.0f} "
                      f"{r['peak'] >> 20:>12} {r['peak'] / b:>10.2f} {r['heap'] >> 20:>11}")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
