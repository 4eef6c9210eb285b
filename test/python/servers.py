"""Builds the Go binaries and runs real imageflight server processes for the tests.

Every process is started in its own session (process group) so teardown can SIGKILL it
and anything it spawned by its own pid, never by name.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional, Sequence

import pyarrow.flight as flight

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class BuildError(RuntimeError):
    pass


def build_binaries(bindir: str) -> dict:
    """go build ./cmd/coordinator ./cmd/worker into bindir; raises BuildError with the output."""
    cmd = ["go", "build", "-o", bindir + os.sep, "./cmd/coordinator", "./cmd/worker"]
    try:
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    except FileNotFoundError as err:
        raise BuildError(f"`go` not found on PATH: {err}") from err
    except subprocess.TimeoutExpired as err:
        raise BuildError(f"{' '.join(cmd)} timed out after 900 s") from err
    out = {n: os.path.join(bindir, n) for n in ("coordinator", "worker")}
    if res.returncode != 0 or not all(os.access(p, os.X_OK) for p in out.values()):
        raise BuildError(
            f"`{' '.join(cmd)}` in {REPO} failed (exit {res.returncode}):\n{res.stdout}{res.stderr}"
        )
    return out


# Ports for the servers the tests start: below the kernel's ephemeral range (32768-60999 here),
# where outgoing connections — the tests' clients, memberlist's push/pull — take their local
# ports, so that none can take a port between free_port() and the server's bind (a flake
# seen in the suite: "address already in use" for a worker's gossip port). Never the same
# port twice in one run.
_PORTS = (20000, 32000)
_handed_out: set = set()
_rng = random.Random()


def free_port(host: str) -> int:
    for _ in range(1000):
        port = _rng.randrange(*_PORTS)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listeners do
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORTS} on {host}")


class ServerProcess:
    def __init__(self, name: str, argv: List[str], logdir: str):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(logdir, f"{name}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=logdir,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)  # our own session: this process and its children
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()

    def terminate(self, grace: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()


class Cluster:
    """A coordinator (standalone, or with separate worker processes) on loopback."""

    def __init__(self, bins: dict, root: str, workers: int = 0, secret: Optional[bytes] = None,
                 max_locations: Optional[int] = None, worker_args: Sequence[str] = (),
                 worker_hosts: Optional[Sequence[str]] = None,
                 coordinator_args: Sequence[str] = ()):
        """workers: separate worker processes (0: one --standalone coordinator).
        worker_args: extra flags for every worker (e.g. --decoders 1 --batch-bytes 200000).
        worker_hosts: loopback address of each worker (default 127.0.0.2, 127.0.0.3, ...).
        coordinator_args: extra flags for the coordinator (e.g. --max-flightinfo-bytes 1)."""
        self.bins = bins
        self.root = root
        self.worker_args = list(worker_args)
        self.worker_hosts = list(worker_hosts) if worker_hosts else None
        self.tmp = tempfile.mkdtemp(prefix="imageflight-cluster-")
        self.procs: List[ServerProcess] = []
        self.secret_file = os.path.join(self.tmp, "secret")
        with open(self.secret_file, "wb") as f:
            f.write(secret or os.urandom(32))
        os.chmod(self.secret_file, 0o600)
        host = "127.0.0.1"
        self.port = free_port(host)
        gport = free_port(host)
        self.location = f"grpc://{host}:{self.port}"
        self.gossip = f"{host}:{gport}"
        argv = [bins["coordinator"], "--listen", f"{host}:{self.port}", "--gossip-listen", self.gossip,
                "--root", root, "--secret-file", self.secret_file, "--local-gossip"]
        if workers == 0:
            argv.insert(1, "--standalone")
        argv += list(coordinator_args)
        self.coordinator = ServerProcess("coordinator", argv, self.tmp)
        self.coordinator_restarts = 0
        self.procs.append(self.coordinator)
        self.workers: List[ServerProcess] = []
        self.worker_locations: List[str] = []
        self.expected_workers = max(workers, 1)
        try:
            for i in range(workers):
                self.add_worker(i + 1)
            self.wait_ready()
        except BaseException:
            self.close()
            raise

    def add_worker(self, i: int) -> ServerProcess:
        if self.worker_hosts and i <= len(self.worker_hosts):
            host = self.worker_hosts[i - 1]
        else:
            host = f"127.0.0.{i + 1}"
        port, gport = free_port(host), free_port(host)
        argv = [self.bins["worker"], "--listen", f"{host}:{port}", "--gossip-listen", f"{host}:{gport}",
                "--join", self.gossip, "--root", self.root, "--name", f"w{i}",
                "--secret-file", self.secret_file, "--local-gossip", *self.worker_args]
        p = ServerProcess(f"worker{i}", argv, self.tmp)
        self.procs.append(p)
        self.workers.append(p)
        self.worker_locations.append(f"grpc://{host}:{port}")
        return p

    def restart_coordinator(self, timeout: float = 180.0) -> ServerProcess:
        """SIGKILLs the coordinator and starts it again with the same argv (same Flight and
        gossip addresses, same secret, empty memory); returns once it answers cluster-status."""
        old = self.coordinator
        old.kill()
        self.coordinator_restarts += 1
        self.coordinator = ServerProcess(f"coordinator.{self.coordinator_restarts}", old.argv, self.tmp)
        self.procs[self.procs.index(old)] = self.coordinator
        deadline = time.monotonic() + timeout
        while True:
            if not self.coordinator.alive():
                raise RuntimeError(f"restarted coordinator exited:\n{self.coordinator.log_tail()}")
            try:
                self.status()
                return self.coordinator
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def client(self) -> flight.FlightClient:
        return flight.FlightClient(self.location)

    def status(self, timeout: float = 30.0) -> dict:
        c = self.client()
        try:
            results = list(c.do_action(flight.Action("cluster-status", b""),
                                       flight.FlightCallOptions(timeout=timeout)))
            return json.loads(results[0].body.to_pybytes())
        finally:
            c.close()

    def live_workers(self, st: dict) -> int:
        ws = st.get("workers") or []
        return sum(1 for w in ws if not isinstance(w, dict) or w.get("state", "alive") == "alive")

    def wait_ready(self, timeout: float = 180.0) -> dict:
        def probe():
            st = self.status()
            return st if self.live_workers(st) >= self.expected_workers else None, st
        return wait_for(self.procs, probe, timeout, "cluster")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log_path})\n{p.log_tail()}" for p in self.procs)

    def close(self) -> None:
        stop_all(self.procs, self.tmp)


def wait_for(procs, probe, timeout: float, what: str):
    """Polls probe() -> (result, last_seen) until result is truthy and returns it.
    Fails at once if one of procs exits, and with every log tail on timeout."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited with {p.proc.returncode}:\n{p.log_tail()}")
        try:
            result, last = probe()
            if result:
                return result
        except Exception as err:  # not listening yet
            last = err
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in procs)
    raise RuntimeError(f"{what} not ready after {timeout}s (last: {last!r})\n{logs}")


def stop_all(procs, tmp) -> None:
    """SIGKILLs the process group of each process (newest first) and removes tmp."""
    for p in reversed(procs):
        p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
