"""The shipped nginx site (deploy/nginx/tokenfleet.conf) in front of the shipped gunicorn, on this
machine: a throwaway CA with server and client certificates (openssl), the site templated for
ports and paths only, nginx runnable as root or not (pid, logs, temp files in a temp dir)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.live.pushpin import port_owner, process_tree
from tests.production.served import ROOT, Answer, free_port

SITE = ROOT / "deploy" / "nginx" / "tokenfleet.conf"
# What a test client connects from: a loopback address of its own, so the address the app sees
# can only have come from nginx's X-Forwarded-For.
CLIENT_ADDRESS = "127.0.0.2"


def find_binary(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def _key_and_request(folder: Path, name: str, subject: str) -> None:
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
        cwd=folder,
    )  # fmt: skip


def _sign(folder: Path, name: str, ca: str, extensions: str) -> None:
    (folder / f"{name}.ext").write_text(extensions + "\n")
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
        cwd=folder,
    )  # fmt: skip


def _ca(folder: Path, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip


def make_certificates(folder: Path) -> Path:
    """ca (the admin CA, which also signs the server), server, admin (a client certificate of
    that CA) and stranger (a client certificate of another CA)."""
    folder.mkdir(parents=True, exist_ok=True)
    _ca(folder, "ca")
    _ca(folder, "otherca")
    _key_and_request(folder, "server", "/CN=localhost")
    _sign(folder, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    for name, ca in (("admin", "ca"), ("stranger", "otherca")):
        _key_and_request(folder, name, f"/CN={name}")
        _sign(folder, name, ca, "extendedKeyUsage=clientAuth")
    return folder


def templated_site(
    *, https_port: int, http_port: int, socket_path: Path, tls: Path, pushpin: str
) -> str:
    """The shipped site with this machine's ports and paths; every replaced text must exist, so
    a change to the shipped file's shape fails here instead of testing something else."""
    text = SITE.read_text()
    replacements = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "unix:/run/tokenfleet/gunicorn.sock": f"unix:{socket_path}",
        "server unix:/run/tokenfleet-pushpin-socket/pushpin.sock;": f"server unix:{pushpin};",
        "/etc/tokenfleet/tls/fullchain.pem": str(tls / "server.pem"),
        "/etc/tokenfleet/tls/privkey.pem": str(tls / "server.key"),
        "/etc/tokenfleet/tls/admin-ca.pem": str(tls / "ca.pem"),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx/tokenfleet.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


def nginx_conf(folder: Path, site: Path) -> Path:
    """A main nginx.conf of our own around the site: everything nginx writes stays in `folder`.
    As root the workers stay root too (they must reach a socket in a private temp dir)."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / name).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {folder}/access.log;\n"
        f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
        f"  fastcgi_temp_path {folder}/fastcgi;\n  uwsgi_temp_path {folder}/uwsgi;\n"
        f"  scgi_temp_path {folder}/scgi;\n"
        f"  include {site};\n"
        "}\n"
    )
    return conf


@dataclass
class Edge:
    https_port: int
    http_port: int
    tls: Path

    def context(self, certificate: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.tls / "ca.pem"))
        if certificate:
            context.load_cert_chain(
                str(self.tls / f"{certificate}.pem"), str(self.tls / f"{certificate}.key")
            )
        return context

    def connection(self, certificate: str | None = None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            "127.0.0.1",
            self.https_port,
            context=self.context(certificate),
            timeout=10,
            source_address=(CLIENT_ADDRESS, 0),
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        certificate: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        connection = self.connection(certificate)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def open_stream(self, path: str) -> ssl.SSLSocket:
        raw = socket.create_connection(
            ("127.0.0.1", self.https_port), timeout=10, source_address=(CLIENT_ADDRESS, 0)
        )
        wrapped = self.context().wrap_socket(raw, server_hostname="127.0.0.1")
        wrapped.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        return wrapped


def read_until(stream: ssl.SSLSocket, seen: bytearray, marker: bytes, count: int, wait: float):
    """Reads the stream into `seen` until `marker` occurs `count` times or `wait` seconds pass."""
    deadline = time.monotonic() + wait
    while seen.count(marker) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{marker!r} x{count} not seen in {wait}s: {bytes(seen[-400:])!r}")
        stream.settimeout(left)
        try:
            chunk = stream.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            raise ConnectionError(f"stream closed: {bytes(seen[-400:])!r}")
        seen.extend(chunk)


@contextmanager
def nginx(folder: Path, *, socket_path: Path, tls: Path, pushpin: str) -> Iterator[Edge]:
    binary = find_binary("nginx")
    assert binary, "nginx is not installed"
    folder.mkdir(parents=True, exist_ok=True)
    edge = Edge(https_port=free_port(), http_port=free_port(), tls=tls)
    site = folder / "tokenfleet.conf"
    site.write_text(
        templated_site(
            https_port=edge.https_port,
            http_port=edge.http_port,
            socket_path=socket_path,
            tls=tls,
            pushpin=pushpin,
        )
    )
    conf = nginx_conf(folder, site)
    command = [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
    tested = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert tested.returncode == 0, tested.stderr
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        started = time.monotonic()
        while True:
            assert process.poll() is None, (folder / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", edge.https_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() - started < 15, (folder / "error.log").read_text()
                time.sleep(0.05)
        yield edge
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def pushpin(folder: Path, *, bind: str, origin: str, environment: dict[str, str]) -> Iterator[str]:
    """Pushpin as deploy/systemd/tokenfleet-pushpin.service runs it (config.pushpin write
    --behind-proxy --socket, then pushpin), on `bind` and a Unix socket in `folder` (yielded, for
    nginx), forwarding to the app's loopback port `origin`."""
    binary = find_binary("pushpin")
    assert binary, "pushpin is not installed"
    written = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "config.pushpin", "write"]
        + ["--behind-proxy", "--bind", bind, "--origin", origin, "--dir", str(folder)]
        + ["--socket", str(folder / "pushpin.sock")]
        + ["--log-level", "1"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert written.returncode == 0, written.stderr
    with open(folder / "pushpin.log", "w") as log:
        process = subprocess.Popen(
            [binary, "--config", str(folder / "pushpin.conf"), "--merge-output"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    host, port = bind.rsplit(":", 1)
    try:
        started = time.monotonic()
        while True:
            assert process.poll() is None, (folder / "pushpin.log").read_text()
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                with socket.socket(socket.AF_UNIX) as local:
                    local.connect(str(folder / "pushpin.sock"))
                break
            except OSError:
                assert time.monotonic() - started < 15, (folder / "pushpin.log").read_text()
                time.sleep(0.05)
        # Ready once its handler takes publishes: a stream held before that answers 500.
        publish = urlsplit(environment["GRIP_URL"])
        while True:
            try:
                request = urllib.request.Request(  # noqa: S310 (loopback)
                    f"http://127.0.0.1:{publish.port}/publish/",
                    data=b'{"items": []}',
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        # ... and it is this Pushpin that answered (tests/live/pushpin.py: the
                        # port is chosen before it is bound, another process may hold it).
                        owner = port_owner(publish.port or 0, process_tree(process.pid))
                        assert owner == "ours", f"publish port {publish.port} taken: {owner}"
                        break
            except OSError:
                pass
            assert time.monotonic() - started < 30, (folder / "pushpin.log").read_text()
            time.sleep(0.1)
        yield str(folder / "pushpin.sock")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=5)
