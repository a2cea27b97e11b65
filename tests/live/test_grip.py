"""The Pushpin side in-process: the coalescing publisher and the config generator."""

from __future__ import annotations

import argparse
import threading
import time

import pytest

from config import pushpin
from usage.live.grip import GripPublisher


class FakeTotals:
    def __init__(self) -> None:
        self.state = 0
        self.reads = 0

    def __call__(self) -> dict:
        self.reads += 1
        return {"totals": {"messages": self.state}, "timestamp": time.time()}


def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_it_coalesces_changes_and_always_publishes_the_last():
    totals, sent = FakeTotals(), list[dict]()
    publisher = GripPublisher(compute=totals, publish=sent.append, interval=0.3, use_redis=False)
    started = time.monotonic()
    for state in range(1, 11):
        totals.state = state
        publisher.changed()
        time.sleep(0.02)
    assert publisher.flush(5)
    elapsed = time.monotonic() - started
    messages = [payload["totals"]["messages"] for payload in sent]
    assert messages[-1] == 10
    assert len(messages) <= int(elapsed / 0.3) + 2 < 10


def test_it_counts_the_interval_from_when_an_event_went_out():
    """A slow totals read must not shorten the gap to the next event (it did: the interval ran
    from when the slot was taken, before the read)."""
    sent_at: list[float] = []
    reads = iter([0.25, 0.0, 0.0])  # the first read is slow, the next ones fast

    def slow_totals() -> dict:
        time.sleep(next(reads, 0.0))
        return {"totals": {"messages": len(sent_at)}, "timestamp": time.time()}

    publisher = GripPublisher(
        compute=slow_totals,
        publish=lambda payload: sent_at.append(time.monotonic()),
        interval=0.3,
        use_redis=False,
    )
    publisher.changed()
    _until(lambda: len(sent_at) == 1)
    publisher.changed()
    assert publisher.flush(5)
    assert len(sent_at) == 2
    assert sent_at[1] - sent_at[0] >= 0.3, sent_at


def test_it_publishes_nothing_when_the_totals_did_not_move():
    totals, sent = FakeTotals(), list[dict]()
    publisher = GripPublisher(compute=totals, publish=sent.append, interval=0.0, use_redis=False)
    publisher.changed()
    assert publisher.flush(5)
    publisher.changed()  # a replayed batch: same numbers
    assert publisher.flush(5)
    assert len(sent) == 1 and totals.reads == 2


def test_it_retries_after_pushpin_refused_a_publish(monkeypatch):
    import usage.live.grip as grip

    monkeypatch.setattr(grip, "FAILURE_RETRY_SECONDS", 0.1)
    totals, sent, failures = FakeTotals(), list[dict](), list[dict]()

    def publish(payload: dict) -> None:
        if not failures:
            failures.append(payload)
            raise ConnectionError("Pushpin away")
        sent.append(payload)

    publisher = GripPublisher(compute=totals, publish=publish, interval=0.0, use_redis=False)
    totals.state = 3
    publisher.changed()
    _until(lambda: len(sent) == 1)
    assert sent[0]["totals"]["messages"] == 3


def test_it_announces_from_many_threads_without_losing_the_last_change():
    totals, sent = FakeTotals(), list[dict]()
    publisher = GripPublisher(compute=totals, publish=sent.append, interval=0.05, use_redis=False)
    lock = threading.Lock()

    def announce() -> None:
        for _ in range(20):
            with lock:
                totals.state += 1
            publisher.changed()

    threads = [threading.Thread(target=announce) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert publisher.flush(5)
    assert sent[-1]["totals"]["messages"] == 80


# --- config.pushpin ---------------------------------------------------------------------------


def _args(tmp_path, **overrides) -> argparse.Namespace:
    values = {
        "bind": "127.0.0.1:8000",
        "origin": "127.0.0.1:8001",
        "dir": str(tmp_path / "pp"),
        "behind_proxy": False,
        "log_level": 2,
        "socket": None,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def _settings(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            found[name] = value
    return found


def test_it_writes_a_config_that_agrees_with_grip_url(tmp_path):
    grip = pushpin.grip_parse("http://127.0.0.1:5599?iss=pushpin&key=k3y-abcdefghijklmnop")
    config = pushpin.write(_args(tmp_path), grip)
    values = _settings(config.read_text())
    assert values["sig_key"] == "k3y-abcdefghijklmnop" and values["sig_iss"] == "pushpin"
    assert values["push_in_http_port"] == "5599" and values["push_in_http_addr"] == "127.0.0.1"
    assert values["http_port"] == "127.0.0.1:8000"  # an address: a bare port binds everywhere
    assert values["services"] == "condure,zurl,pushpin-proxy,pushpin-handler"
    assert values["rundir"] == str(tmp_path / "pp" / "run")
    assert values["zurl_out_specs"].startswith("ipc://{rundir}/")
    assert int(values["message_rate"]) >= 100_000 and int(values["message_hwm"]) >= 500_000
    assert values["x_forwarded_for"] == "truncate:0,append"  # clients cannot choose their IP
    assert (tmp_path / "pp" / "routes").read_text() == "* 127.0.0.1:8001\n"
    assert config.stat().st_mode & 0o077 == 0  # it holds the signature key


def test_it_leaves_out_what_pushpin_pays_for_on_every_request(tmp_path):
    grip = pushpin.grip_parse("http://127.0.0.1:5561?key=abcdefghijklmnopqrstuvwxyz")
    text = pushpin.write(_args(tmp_path, log_level=1), grip).read_text()
    proxy = text.split("[proxy]", 1)[1].split("[handler]", 1)[0]
    values = _settings(proxy)
    # Empty specs override internal.conf's: no inspect round trip, no stats message per request.
    assert values["handler_inspect_spec"] == "" and values["stats_spec"] == ""
    assert _settings(text)["log_level"] == "1"
    # What streams need stays: the handler still takes held requests and publishes.
    assert "handler_accept_spec" not in proxy
    assert _settings(text.split("[handler]", 1)[1])["push_in_http_port"] == "5561"


def test_it_logs_a_line_per_request_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("PUSHPIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("GRIP_URL", "http://127.0.0.1:5561?key=abcdefghijklmnopqrstuvwxyz")
    for argv, level in (([], "1"), (["--log-level", "2"], "2")):
        folder = tmp_path / f"pp{level}"
        common = ["--bind", "127.0.0.1:8000", "--origin", "127.0.0.1:8001", "--dir", str(folder)]
        assert pushpin.main(["write", *common, *argv]) == 0
        assert _settings((folder / "pushpin.conf").read_text())["log_level"] == level


def test_it_keeps_forwarded_headers_behind_nginx(tmp_path):
    grip = pushpin.grip_parse("http://127.0.0.1:5561?key=abcdefghijklmnopqrstuvwxyz")
    values = _settings(pushpin.write(_args(tmp_path, behind_proxy=True), grip).read_text())
    assert values["x_forwarded_for"] == "append"
    assert values["accept_x_forwarded_protocol"] == "true"
    assert "local_ports" not in values


def test_it_listens_on_a_unix_socket_for_the_proxy_in_front(tmp_path):
    """deploy/: nginx reaches Pushpin on a socket, beside the loopback port."""
    grip = pushpin.grip_parse("http://127.0.0.1:5561?key=abcdefghijklmnopqrstuvwxyz")
    args = _args(tmp_path, behind_proxy=True, socket=str(tmp_path / "s" / "pushpin.sock"))
    values = _settings(pushpin.write(args, grip).read_text())
    assert values["local_ports"] == str(tmp_path / "s" / "pushpin.sock")
    assert values["http_port"] == "127.0.0.1:8000"


def test_it_generates_one_key_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GRIP_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    first, second = pushpin.grip_current(), pushpin.grip_current()
    assert first == second and len(first.key) >= 32
    assert first.url.startswith("http://127.0.0.1:5561?iss=pushpin&key=")
    assert (tmp_path / "grip_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5561", "ftp://127.0.0.1:5561?key=x", "http://h?key=base64:AAAA"]
)
def test_it_refuses_a_grip_url_it_cannot_use(url):
    with pytest.raises(SystemExit):
        pushpin.grip_parse(url)


def test_it_says_when_pushpin_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pushpin.shutil, "which", lambda name: None)
    grip = pushpin.grip_parse("http://127.0.0.1:5561?key=abcdefghijklmnopqrstuvwxyz")
    args = _args(tmp_path, parent_pid=None)
    assert pushpin.run(args, grip) == 2
    assert "apt-get install pushpin" in capsys.readouterr().err
