"""Plain pyarrow against a cluster with TLS and authentication: a coordinator with a users
file and one worker that only verifies the coordinator's tokens. No imageflight client code.

Certificates (a throwaway CA and a leaf for 127.0.0.1..5) are made with the openssl CLI in a
temporary folder at test time; the users file holds a PBKDF2-SHA256 hash made with hashlib.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pyarrow as pa
import pyarrow.flight as fl
import pytest

from corpus import rel_of
from servers import ServerProcess, free_port, stop_all, wait_for

USER, PASSWORD = "alice", "correct horse"


def _openssl(*args, cwd):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is needed to make test certificates", pytrace=False)
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f"openssl {' '.join(args)}:\n{res.stdout}{res.stderr}"


def make_pki(d: str) -> dict:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=imageflight pytest CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=d)
    _openssl("req", *ec, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=imageflight pytest", cwd=d)
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=" + ",".join(f"IP:127.0.0.{i}" for i in range(1, 6)) + "\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "cert.pem", "-days", "1", "-extfile", "leaf.ext", cwd=d)
    for name in ("ca.key", "key.pem"):
        os.chmod(os.path.join(d, name), 0o600)
    return {k: os.path.join(d, v) for k, v in (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem"))}


def pbkdf2_line(user: str, password: str, rounds: int = 10_000) -> str:  # the minimum: cost is not under test
    """passlib's $pbkdf2-sha256$ format: adapted base64 ('.' for '+', no padding)."""
    ab64 = lambda b: base64.b64encode(b).decode().rstrip("=").replace("+", ".")  # noqa: E731
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"{user}:$pbkdf2-sha256${rounds}${ab64(salt)}${ab64(dk)}\n"


class SecureCluster:
    def __init__(self, bins: dict, root: str):
        self.tmp = tempfile.mkdtemp(prefix="imageflight-secure-")
        self.procs = []
        try:
            self.pki = make_pki(self.tmp)
            with open(self.pki["ca"], "rb") as f:
                self.ca = f.read()
            users = os.path.join(self.tmp, "users")
            with open(users, "w") as f:
                f.write("# pytest\n" + pbkdf2_line(USER, PASSWORD))
            secret = os.path.join(self.tmp, "secret")
            with open(secret, "wb") as f:
                f.write(os.urandom(32).hex().encode())
            os.chmod(secret, 0o600)
            tls = ["--tls-cert", self.pki["cert"], "--tls-key", self.pki["key"], "--tls-ca", self.pki["ca"]]
            common = ["--root", root, "--secret-file", secret, "--local-gossip", *tls]
            host, whost = "127.0.0.1", "127.0.0.2"
            port, gport = free_port(host), free_port(host)
            wport, wgport = free_port(whost), free_port(whost)
            self.location = f"grpc+tls://{host}:{port}"
            self.worker_location = f"grpc+tls://{whost}:{wport}"
            self.procs.append(ServerProcess("coordinator", [
                bins["coordinator"], "--listen", f"{host}:{port}", "--gossip-listen", f"{host}:{gport}",
                "--auth-users-file", users, *common], self.tmp))
            self.procs.append(ServerProcess("worker1", [
                bins["worker"], "--listen", f"{whost}:{wport}", "--gossip-listen", f"{whost}:{wgport}",
                "--join", f"{host}:{gport}", "--name", "w1", "--auth", *common], self.tmp))
            self.wait_ready()
        except BaseException:
            self.close()
            raise

    def client(self, location=None) -> fl.FlightClient:
        return fl.FlightClient(location or self.location, tls_root_certs=self.ca)

    def options(self, client: fl.FlightClient) -> fl.FlightCallOptions:
        pair = client.authenticate_basic_token(USER, PASSWORD)
        return fl.FlightCallOptions(headers=[pair], timeout=180)

    def wait_ready(self, timeout: float = 180.0) -> None:
        def probe():
            c = self.client()
            try:
                res = list(c.do_action(fl.Action("cluster-status", b""), self.options(c)))
            finally:
                c.close()
            st = json.loads(res[0].body.to_pybytes())
            # active >= 0: the coordinator's own probe reached the worker over TLS.
            ready = any(w["location"] == self.worker_location and w["active"] >= 0
                        for w in st.get("workers") or [])
            return ready, st
        wait_for(self.procs, probe, timeout, "secure cluster")

    def close(self) -> None:
        stop_all(self.procs, self.tmp)


@pytest.fixture(scope="module")
def secure(go_bins, corpus):
    try:
        c = SecureCluster(go_bins, corpus.root)
    except RuntimeError as err:
        pytest.fail(f"secure cluster did not start: {err}", pytrace=False)
    yield c
    c.close()


def _descriptor(corpus, **kw):
    return fl.FlightDescriptor.for_command(json.dumps({"path": corpus.images, "recursive": True, **kw}).encode())


def _uri(loc) -> str:
    return loc.uri.decode() if isinstance(loc.uri, bytes) else loc.uri


def test_tls_auth_read(secure, corpus):
    client = secure.client()
    opts = secure.options(client)
    info = client.get_flight_info(_descriptor(corpus, numPartitions=3), opts)
    assert len(info.endpoints) == 3
    tables = []
    for ep in info.endpoints:
        loc = _uri(ep.locations[0])
        assert loc == secure.worker_location
        # The coordinator's bearer token is accepted by the worker.
        worker = fl.FlightClient(loc, tls_root_certs=secure.ca)
        tables.append(worker.do_get(ep.ticket, opts).read_all())
    rows = pa.concat_tables(tables).to_pylist()
    got = {rel_of(corpus, r["image"]["origin"]) for r in rows}
    assert len(got) == len(rows)
    assert got == set(corpus.under("images/"))


def test_unauthenticated_calls_fail(secure, corpus):
    client = secure.client()
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.get_flight_info(_descriptor(corpus))
    info = client.get_flight_info(_descriptor(corpus), secure.options(client))
    worker = fl.FlightClient(secure.worker_location, tls_root_certs=secure.ca)
    with pytest.raises(fl.FlightUnauthenticatedError):
        worker.do_get(info.endpoints[0].ticket).read_all()
    forged = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer aWZ0MXxhbGljZXw5OTk5OTk5OTk5.AAAA")])
    with pytest.raises(fl.FlightUnauthenticatedError):
        worker.do_get(info.endpoints[0].ticket, forged).read_all()


def test_wrong_password_fails(secure):
    client = secure.client()
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.authenticate_basic_token(USER, PASSWORD + "!")
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.authenticate_basic_token("mallory", PASSWORD)


def test_plaintext_client_fails(secure, corpus):
    plain = fl.FlightClient(secure.location.replace("grpc+tls://", "grpc://"))
    with pytest.raises(fl.FlightError):
        plain.get_flight_info(_descriptor(corpus), fl.FlightCallOptions(timeout=5))
