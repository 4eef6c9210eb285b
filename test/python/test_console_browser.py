"""The coordinator's web console in a real browser: Debian's chromium, driven headless by
Playwright for Python (`executable_path`; Playwright's own browser download is not used),
against a live coordinator and two worker processes with TLS and a users file.

Each page loads without console errors; the members and a plan read through the cluster
appear; every thumbnail (made by the workers) decodes; a file named like markup is shown as
text; without credentials every page is refused. Screenshots are kept as artifacts under
$IMAGEFLIGHT_ARTIFACTS (default <repo>/artifacts)/console and their paths printed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import pyarrow.flight as fl
import pytest
from PIL import Image

from conftest import REPORT
from servers import REPO, ServerProcess, free_port, stop_all, wait_for
from test_security import PASSWORD, USER, make_pki, pbkdf2_line

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "<img src=x onerror=alert(1)>.jpg"
ARTIFACTS = os.path.join(os.environ.get("IMAGEFLIGHT_ARTIFACTS", os.path.join(REPO, "artifacts")), "console")


def write_data(root: str) -> None:
    """Two classes of small images of several formats and sizes, and a broken file whose
    name is markup."""
    for cls, n, colour in (("cats", 6, (200, 120, 40)), ("dogs", 4, (40, 90, 200))):
        d = os.path.join(root, f"cls={cls}")
        os.makedirs(d)
        for i in range(n):
            w, h = 60 + 50 * i, 40 + 30 * i
            img = Image.new("RGB", (w, h), colour)
            for x in range(0, w, 7):
                for y in range(h):
                    img.putpixel((x, y), (255 - colour[0], i * 30, 255))
            fmt = ("PNG", "png") if i % 2 else ("JPEG", "jpg")
            img.save(os.path.join(d, f"{cls}_{i}.{fmt[1]}"), fmt[0])
    with open(os.path.join(root, "cls=cats", HOSTILE), "wb") as f:
        f.write(b"this is not a jpeg")


class ConsoleCluster:
    def __init__(self, bins: dict, root: str):
        self.tmp = tempfile.mkdtemp(prefix="imageflight-console-")
        self.procs = []
        try:
            pki = make_pki(self.tmp)
            with open(pki["ca"], "rb") as f:
                self.ca = f.read()
            users = os.path.join(self.tmp, "users")
            with open(users, "w") as f:
                f.write(pbkdf2_line(USER, PASSWORD))
            secret = os.path.join(self.tmp, "secret")
            with open(secret, "wb") as f:
                f.write(os.urandom(32).hex().encode())
            os.chmod(secret, 0o600)
            common = ["--root", root, "--secret-file", secret, "--local-gossip",
                      "--tls-cert", pki["cert"], "--tls-key", pki["key"], "--tls-ca", pki["ca"]]
            host = "127.0.0.1"
            port, gport, hport = free_port(host), free_port(host), free_port(host)
            self.location = f"grpc+tls://{host}:{port}"
            self.console = f"https://{host}:{hport}"
            self.procs.append(ServerProcess("coordinator", [
                bins["coordinator"], "--listen", f"{host}:{port}", "--gossip-listen", f"{host}:{gport}",
                "--metrics-listen", f"{host}:{hport}", "--auth-users-file", users, *common], self.tmp))
            for i, whost in ((1, "127.0.0.2"), (2, "127.0.0.3")):
                wport, wgport = free_port(whost), free_port(whost)
                self.procs.append(ServerProcess(f"worker{i}", [
                    bins["worker"], "--listen", f"{whost}:{wport}", "--gossip-listen", f"{whost}:{wgport}",
                    "--join", f"{host}:{gport}", "--name", f"w{i}", "--auth", *common], self.tmp))
            wait_for(self.procs, self._ready, 180, "console cluster")
        except BaseException:
            self.close()
            raise

    def client(self):
        c = fl.FlightClient(self.location, tls_root_certs=self.ca)
        return c, fl.FlightCallOptions(headers=[c.authenticate_basic_token(USER, PASSWORD)], timeout=180)

    def _ready(self):
        c, opts = self.client()
        try:
            st = json.loads(list(c.do_action(fl.Action("cluster-status", b""), opts))[0].body.to_pybytes())
        finally:
            c.close()
        alive = [w for w in st.get("workers") or [] if w["name"] in ("w1", "w2") and w["active"] >= 0]
        return len(alive) == 2, st

    def read(self, path: str) -> int:
        c, opts = self.client()
        try:
            info = c.get_flight_info(fl.FlightDescriptor.for_command(json.dumps({"path": path}).encode()), opts)
            rows = 0
            for ep in info.endpoints:
                loc = ep.locations[0]
                wc = fl.FlightClient(loc, tls_root_certs=self.ca)
                try:
                    rows += wc.do_get(ep.ticket, opts).read_all().num_rows
                finally:
                    wc.close()
            return rows
        finally:
            c.close()

    def close(self):
        stop_all(self.procs, self.tmp)


@pytest.fixture(scope="module")
def console_cluster(go_bins):
    data = tempfile.mkdtemp(prefix="imageflight-console-data-")
    write_data(data)
    try:
        c = ConsoleCluster(go_bins, data)
    except RuntimeError as err:
        pytest.fail(f"console cluster did not start: {err}", pytrace=False)
    c.data = data
    yield c
    c.close()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: test/run.sh installs Debian's chromium package", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium refuses its sandbox.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _watch(page, errors: list) -> None:
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("dialog", lambda d: (errors.append(f"a dialog opened: {d.message}"), d.dismiss()))


def _shot(page, name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name + ".png")
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")
    REPORT.append(f"  console screenshot: {path}")  # printed in the summary even under -q
    return path


def test_console_pages(console_cluster, browser):
    c = console_cluster
    assert c.read(c.data) == 11  # 10 images and the broken file, as an invalid row
    ctx = browser.new_context(ignore_https_errors=True, http_credentials={"username": USER, "password": PASSWORD})
    try:
        page = ctx.new_page()
        errors: list = []
        _watch(page, errors)

        res = page.goto(c.console + "/cluster")
        assert res.status == 200, page.content()
        members = page.inner_text("#members")
        for name in ("w1", "w2", "coordinator"):
            assert name in members, members
        assert members.count("alive") >= 3, members
        _shot(page, "cluster")

        res = page.goto(c.console + "/reads")
        assert res.status == 200
        plans = page.inner_text("#plans")
        assert "file:" + c.data in plans and "planned" in plans, plans
        page.click("#plans details summary")
        endpoints = page.inner_text("#plans details")
        assert "w1" in endpoints or "w2" in endpoints, endpoints
        assert "11 of 11" in plans, plans  # every file sent, as the workers report it
        failures = page.inner_text("#failures")
        assert HOSTILE in failures and "unknown image format" in failures, failures
        _shot(page, "reads")

        res = page.goto(c.console + "/browse?path=" + urllib.parse.quote(c.data))
        assert res.status == 200
        thumbs = page.eval_on_selector_all("figure.thumb img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.alt])")
        assert len(thumbs) == 10, thumbs
        assert all(done and width > 0 for done, width, _ in thumbs), thumbs
        broken = page.inner_text("#broken")
        assert "cls=cats/" + HOSTILE in broken, broken  # shown as text...
        assert page.eval_on_selector_all('img[src="x"]', "els => els.length") == 0  # ...never as markup
        assert "cats" in page.inner_text("main") and "dogs" in page.inner_text("main")
        _shot(page, "browse")

        assert errors == [], errors
    finally:
        ctx.close()


@pytest.mark.parametrize("creds", [None, {"username": USER, "password": "wrong"}], ids=["none", "wrong-password"])
def test_console_refuses_without_credentials(console_cluster, browser, creds):
    """Headless chromium cannot show the login prompt, so a refused navigation fails with
    ERR_INVALID_AUTH_CREDENTIALS; the server's 401 is checked on the response itself."""
    from playwright.sync_api import Error

    c = console_cluster
    kw = {"http_credentials": creds} if creds else {}
    ctx = browser.new_context(ignore_https_errors=True, **kw)
    try:
        for path in ("/cluster", "/reads", "/browse?path=" + urllib.parse.quote(c.data), "/static/style.css"):
            page = ctx.new_page()
            responses = []
            page.on("response", lambda r: responses.append(r))
            try:
                status = page.goto(c.console + path).status
            except Error as err:
                assert "ERR_INVALID_AUTH_CREDENTIALS" in str(err), err
                status = None
            assert status in (None, 401), (path, status)
            assert [r.status for r in responses] == [401] * len(responses) and responses, (path, responses)
            page.close()
            # What chromium got but does not show: the refusal, and nothing of the page.
            req = urllib.request.Request(c.console + path)
            if creds:
                req.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode())
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(req, context=ssl.create_default_context(cadata=c.ca.decode()), timeout=60)
            body = refused.value.read().decode()
            assert refused.value.code == 401 and "authentication required" in body and "members" not in body, body
        page = ctx.new_page()
        page.set_content("<p>refused: every console page answered 401 " + ("without credentials" if creds is None else "to a wrong password") + "</p>")
        _shot(page, "refused-" + ("none" if creds is None else "wrong-password"))
    finally:
        ctx.close()
