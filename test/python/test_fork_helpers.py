"""The fork helpers (imageflight._forkproxy): a process forked after gRPC use runs its Flight
calls in one helper process, started isolated from the working folder, that dies with
its owner and stays quiet on Ctrl-C.

Every scenario runs in a fresh interpreter (it forks, or is interrupted); process trees are
read from /proc (Linux).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPORT

import imageflight

HERE = os.path.dirname(os.path.abspath(__file__))
# The scripts import the imageflight this test imported.
PKG = os.path.dirname(os.path.dirname(os.path.abspath(imageflight.__file__)))

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc (Linux)")

# Process-tree reading, shared with the scripts below (they exec this text).
PROC = r"""
import os

def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])  # state, ppid

def alive(pid):
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st is not None and st[1] == pid and st[0] not in ("Z", "X"):
                out.append(int(d))
    return out
"""
exec(PROC)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PKG, HERE] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _run(script, *args, timeout=180):
    res = subprocess.run([sys.executable, "-c", PROC + script, *args], capture_output=True, text=True,
                         timeout=timeout, env=_env(), cwd=HERE)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1]), res.stderr


# ------------------------------------------------------------------ issue 16.6: working folder

HIJACK = r"""
import json, os, sys
import imageflight
coord, path, evil = sys.argv[1:4]
n_parent = imageflight.read_images(path, coordinator=coord).num_rows  # gRPC live from here
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.chdir(evil)
    try:
        n = sum(b.num_rows for b in imageflight.iter_batches(path, coordinator=coord, num_partitions=3))
        out = {"rows": n}
    except BaseException as err:
        out = {"error": repr(err)}
    os.write(w, json.dumps(out).encode())
    os._exit(0)
os.close(w)
data = b""
while True:
    chunk = os.read(r, 1 << 16)
    if not chunk:
        break
    data += chunk
os.waitpid(pid, 0)
out = json.loads(data)
out["parent"] = n_parent
print(json.dumps(out))
"""

EVIL = """import os
open(os.path.join({marks!r}, {name!r}), "w").close()
raise SystemExit(3)
"""


def test_helper_ignores_the_working_folder(coordinator, corpus, tmp_path):
    """A child that forked after gRPC use and runs in a folder holding an ``imageflight``
    package and a ``pyarrow.py`` reads through a helper that executes neither."""
    evil, marks = tmp_path / "evil", tmp_path / "marks"
    (evil / "imageflight").mkdir(parents=True)
    marks.mkdir()
    for rel in ("imageflight/__init__.py", "imageflight/_forkproxy.py", "pyarrow.py"):
        (evil / rel).write_text(EVIL.format(marks=str(marks), name=rel.replace("/", "_")))
    out, err = _run(HIJACK, coordinator, corpus.root + "/many", str(evil))
    assert sorted(os.listdir(marks)) == [], f"the helper ran code from the working folder ({out}, {err})"
    assert out.get("rows") == out["parent"] == 200, out


# ------------------------------------------------------------------ issue 16.7: dies with owner

ORPHAN = r"""
import json, os, select, signal, sys, time
import pyarrow.flight as flight
import fakeflight as F
import imageflight
srv = F.FakeServer()
srv.endpoints = [flight.FlightEndpoint(F.ticket(0, 10), [srv.location])]
imageflight.get_plan("/x", coordinator=srv.location)  # a live Flight client in the parent
srv.stall_after = 1  # one row, then silence: the helper waits in DoGet
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    it = imageflight.iter_batches("/x", coordinator=srv.location, stall_timeout=None)
    next(it)
    os.write(w, b"x")
    time.sleep(600)
    os._exit(0)
os.close(w)
ready, _, _ = select.select([r], [], [], 120)
assert ready and os.read(r, 1) == b"x", "the child read no row"
helpers = children(pid)
time.sleep(0.5)  # the helper is back in its DoGet, waiting for the stalled server
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
t0 = time.monotonic()
while any(alive(h) for h in helpers) and time.monotonic() - t0 < 30:
    time.sleep(0.1)
left = [h for h in helpers if alive(h)]
for h in left:
    os.kill(h, signal.SIGKILL)
print(json.dumps({"helpers": helpers, "left": left, "secs": time.monotonic() - t0}), flush=True)
os._exit(0)  # no wait for the fake server's teardown
"""


def test_helper_dies_with_its_owner():
    """SIGKILL of the forked process that owns a helper, while the helper waits in a DoGet
    on a server that sends nothing: the helper must exit (bound: 30 s)."""
    out, err = _run(ORPHAN)
    assert len(out["helpers"]) >= 1, out
    assert out["left"] == [], f"helpers alive 30 s after their owner was killed: {out}\n{err}"
    REPORT.append(f"fork helper gone {out['secs']:.2f} s after its owner was SIGKILLed mid-DoGet")


HELPER_KILLED = r"""
import json, logging, os, signal, sys, time
import pyarrow.flight as flight
import fakeflight as F
import imageflight
logged = []
class Keep(logging.Handler):
    def emit(self, rec):
        logged.append(rec.getMessage())
logging.getLogger("imageflight").addHandler(Keep())
srv = F.FakeServer()
# Two locations: a server failure would fail over / resume on the second.
srv.endpoints = [flight.FlightEndpoint(F.ticket(0, 10), [srv.location, srv.location])]
imageflight.get_plan("/x", coordinator=srv.location)
srv.stall_after = 1
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    it = imageflight.iter_batches("/x", coordinator=srv.location, stall_timeout=None)
    next(it)
    helpers = children(os.getpid())
    for h in helpers:
        os.kill(h, signal.SIGKILL)
    try:
        next(it)
        out = {"error": None}
    except BaseException as err:
        out = {"error": type(err).__name__, "message": str(err),
               "imageflight": isinstance(err, imageflight.ImageFlightError)}
    out["helpers"], out["logged"] = helpers, logged
    os.write(w, json.dumps(out).encode())
    os._exit(0)
os.close(w)
data = b""
while True:
    chunk = os.read(r, 1 << 16)
    if not chunk:
        break
    data += chunk
os.waitpid(pid, 0)
print(data.decode(), flush=True)
os._exit(0)  # no wait for the fake server's teardown
"""


def test_helper_death_is_not_a_server_failure():
    """A helper killed by a signal mid-stream ends the read with an ImageFlightError naming
    the helper: no failover or resume on the endpoint's other location, nothing logged."""
    out, err = _run(HELPER_KILLED)
    assert len(out["helpers"]) == 1, out
    assert out["error"] == "ForkHelperLost" and out["imageflight"], out
    assert "signal 9" in out["message"], out
    assert out["logged"] == [], out


# ------------------------------------------------------------------ issue 17.5: DataLoader

LOADER = r"""
import json, os, sys, time
import imageflight
from imageflight.torch import ImageFlightDataset
from torch.utils.data import DataLoader
coord, path, grpc_in_parent = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if grpc_in_parent:
    imageflight.read_images(path, coordinator=coord)  # gRPC live in this process
ds = ImageFlightDataset(path, coordinator=coord, num_partitions=8)  # plans through a helper
parent_helpers = len(children(os.getpid()))
loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork", timeout=120)
it = iter(loader)
workers = [w.pid for w in it._workers]
most = {w: 0 for w in workers}
n = 0
for s in it:
    n += 1
    for w in workers:
        most[w] = max(most[w], len(children(w)))
print(json.dumps({"rows": n, "most": list(most.values()), "parent_helpers": parent_helpers}))
"""


@pytest.mark.parametrize("grpc_in_parent", [False, True], ids=["dataset-only", "grpc-in-parent"])
def test_helpers_per_dataloader_worker(coordinator, corpus, grpc_in_parent):
    """DataLoader(num_workers=2), 8 endpoints. The dataset plans through one helper of the
    parent, which keeps no gRPC state: its forked workers use gRPC directly, no helper each
    (issue 17: fewer processes). A parent that used gRPC itself makes its workers run one
    helper each at most, whatever the number of their concurrent streams."""
    pytest.importorskip("torch", reason="torch not installed (IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh)")
    out, _ = _run(LOADER, coordinator, corpus.root + "/many", "1" if grpc_in_parent else "0")
    assert out["rows"] == 200, out
    assert out["parent_helpers"] == 1, out
    want = 1 if grpc_in_parent else 0
    assert max(out["most"]) == want, f"helper processes per worker: {out['most']}"
    REPORT.append(f"DataLoader(num_workers=2), {'gRPC used in the parent' if grpc_in_parent else 'dataset only'}: "
                  f"helper processes per worker (most seen): {out['most']}")


# Seconds from the start of an epoch (workers forking) to the SIGINT: workers and helpers
# starting, then streaming.
DELAYS = [0.1, 0.5]

TRAIN = r"""
import os, sys, time
import imageflight
from imageflight.torch import ImageFlightDataset
from torch.utils.data import DataLoader
coord, path, grpc_in_parent = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if grpc_in_parent:
    imageflight.read_images(path, coordinator=coord)  # workers then read through helpers
ds = ImageFlightDataset(path, coordinator=coord, num_partitions=8)
loader = DataLoader(ds, batch_size=8, num_workers=2, multiprocessing_context="fork", timeout=120)
epoch = 0
while True:
    it = iter(loader)  # new workers, new helpers
    if epoch == 2:
        print("TRAINING", flush=True)
    for batch in it:
        time.sleep(0.01)  # the step
    epoch += 1
"""


@pytest.mark.parametrize("target,delay,helpers", [
    ("group", DELAYS[0], "dataset-only"), ("main", DELAYS[1], "dataset-only"),
    ("group", DELAYS[1], "grpc-in-parent"), ("main", DELAYS[0], "grpc-in-parent")])
def test_ctrl_c_stops_a_training_loop_quietly(coordinator, corpus, target, delay, helpers):
    """SIGINT to a training loop with DataLoader(num_workers=2) workers (reading directly,
    or through fork helpers when the parent used gRPC), as a terminal sends it (the whole
    foreground process group) or to the main process only: the loop ends promptly with at
    most the main process's one KeyboardInterrupt traceback, no failover and no helper
    failure; no process is left."""
    pytest.importorskip("torch", reason="torch not installed (IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh)")
    # A terminal's shell starts its foreground job with SIGINT's default action; a suite
    # started in the background by a non-interactive shell (`./test/run.sh &`) ignores
    # SIGINT, and an ignored SIGINT is inherited through exec, so Python would never raise
    # KeyboardInterrupt: restore the default as the shell would.
    p = subprocess.Popen([sys.executable, "-c", TRAIN, coordinator, corpus.root + "/many",
                          "1" if helpers == "grpc-in-parent" else "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=HERE,
                         start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line, t0 = b"", time.monotonic()
        while b"TRAINING" not in line and time.monotonic() - t0 < 180:
            ready, _, _ = select.select([p.stdout], [], [], 1)
            if ready:
                line += os.read(p.stdout.fileno(), 4096)
            if p.poll() is not None:
                break
        assert b"TRAINING" in line, p.stderr.read().decode()
        time.sleep(delay)
        tree = _tree(p.pid)
        if target == "group":
            os.killpg(p.pid, signal.SIGINT)
        else:
            p.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the training loop kept running 60 s after SIGINT")
        secs = time.monotonic() - t0
        err = err.decode(errors="replace")
        while any(alive(q) for q in tree) and time.monotonic() - t0 < 90:
            time.sleep(0.1)
        left = [q for q in tree if alive(q)]
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode != 0, "the interrupt was swallowed: the loop ended normally"
    assert err.count("Traceback (most recent call last)") <= 1, err
    assert err.count("KeyboardInterrupt") <= 1, err
    for bad in ("trying the next location", "helper failed", "fork proxy", "resuming at file"):
        assert bad not in err, err
    assert left == [], f"processes left after the interrupt: {left}"
    REPORT.append(f"Ctrl-C ({target}, {helpers}) in a DataLoader(num_workers=2) loop: ended in {secs:.2f} s, "
                  f"{len(tree) - 1} processes under the main one before")


def _tree(pid):
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        todo.extend(children(q))
    return out


# ------------------------------------------------------------------ a client in a reference cycle

CYCLE = r"""
import gc, json, os, sys, time
import pyarrow.flight as fl
import imageflight
coord = sys.argv[1]
gc.disable()  # the cycle below stays until a collection, as between automatic ones
client = fl.FlightClient(coord)
list(client.do_action(fl.Action("cluster-status", b"")))  # gRPC live, the client's threads wait
cycle = [client]
cycle.append(cycle)  # e.g. a dropped client held by an exception's traceback
del client, cycle
pid = os.fork()
if pid == 0:
    gc.collect()  # the child's first collection: must not finalise the parent's client
    os._exit(0)
t = time.monotonic()
while time.monotonic() - t < 60:
    if os.waitpid(pid, os.WNOHANG)[0]:
        print(json.dumps({"exited": True, "seconds": round(time.monotonic() - t, 2)}))
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print(json.dumps({"exited": False}))
"""


def test_fork_with_an_unreachable_client_in_a_cycle(coordinator):
    """A FlightClient that is garbage in a reference cycle at fork time is finalised in the
    parent (imageflight collects before forking): finalised in the child, its close() hung
    forever in gRPC's teardown (seen as a DataLoader worker stuck after a read whose worker
    was SIGKILLed)."""
    out, _ = _run(CYCLE, coordinator)
    assert out["exited"], "the forked child hung finalising the parent's FlightClient"
