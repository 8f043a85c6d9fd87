"""Liveness fails when the event loop stops or a watch stream stalls; readiness follows start-up."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from kubedirector_core.runtime.health import Health, HttpServer, parse_bind_address


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cluster(version: str, name: str = "rec") -> dict[str, object]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> Health:
    return Health(watch_limit=600.0, loop_limit=15.0, clock=clock)


def test_a_blocked_event_loop_fails_liveness_with_the_time_it_has_been_stuck(
    health: Health, clock: FakeClock
) -> None:
    health.beat()
    clock.now += 10
    assert health.healthz()[0] == 200
    clock.now += 10
    status, _, body = health.healthz()
    assert status == 503
    assert body.decode() == "the event loop has not run for 20.0 s\n"
    health.beat()
    assert health.healthz() == (200, "text/plain; charset=utf-8", b"ok\n")


def test_a_write_whose_watch_event_never_comes_back_means_a_stalled_stream(
    health: Health, clock: FakeClock
) -> None:
    health.seen("KubeDirectorCluster", cluster("5"))
    health.wrote("KubeDirectorCluster", cluster("7"))
    clock.now += 599
    health.beat()
    assert health.liveness() == []
    clock.now += 2
    health.beat()
    assert health.liveness() == [
        "the KubeDirectorCluster watch stream is stalled: a write has not come back "
        "as an event within 600 s"
    ]
    health.seen("KubeDirectorCluster", cluster("7"))  # the stream delivers again
    assert health.liveness() == []


def test_writes_that_changed_nothing_or_were_echoed_early_are_not_awaited(
    health: Health, clock: FakeClock
) -> None:
    health.seen("StatefulSet", cluster("9", "a"))
    health.wrote("StatefulSet", cluster("9", "a"))  # a no-op apply: same version, no event
    health.seen("StatefulSet", cluster("12", "b"))  # the event came before the write returned
    health.wrote("StatefulSet", cluster("12", "b"))
    health.seen("Service", cluster("20", "c"))  # someone else changed it after our write
    health.wrote("Service", cluster("18", "c"))
    health.seen("Service", cluster("3", "gone"), deleted=True)
    clock.now += 3600
    health.beat()
    assert health.liveness() == []


def test_readiness_is_starting_then_standby_then_ready(health: Health) -> None:
    assert health.readyz()[:1] == (503,)
    assert health.readyz()[2] == b"starting\n"
    health.standby()
    assert health.readyz()[0::2] == (200, b"standby\n")
    health.ready()
    health.standby()  # a leader never goes back to standby
    assert health.readyz()[0::2] == (200, b"ready\n")


def test_bind_addresses_parse_or_are_refused_naming_the_option() -> None:
    assert parse_bind_address(":8081", option="--health-probe-bind-address") == ("0.0.0.0", 8081)
    assert parse_bind_address("127.0.0.1:9", option="--x") == ("127.0.0.1", 9)
    assert parse_bind_address("0", option="--x") is None
    with pytest.raises(ValueError, match="--metrics-bind-address: '8080' is not an address"):
        parse_bind_address("8080", option="--metrics-bind-address")
    with pytest.raises(ValueError, match="write host:port, :port"):
        parse_bind_address(":99999", option="--x")


@pytest.fixture
def served(health: Health) -> Iterator[str]:
    server = HttpServer(("127.0.0.1", 0), {"/healthz": health.healthz, "/readyz": health.readyz})
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_the_probe_server_answers_over_http_even_with_the_loop_stuck(
    served: str, health: Health, clock: FakeClock
) -> None:
    health.beat()
    health.ready()
    with urllib.request.urlopen(f"{served}/readyz", timeout=10) as answer:
        assert (answer.status, answer.read()) == (200, b"ready\n")
    clock.now += 60  # nothing stamps the heartbeat any more
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{served}/healthz", timeout=10)
    assert refused.value.code == 503
    assert b"event loop has not run" in refused.value.read()
    refused.value.close()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{served}/nothing", timeout=10)
    assert missing.value.code == 404
    missing.value.close()
