"""/metrics from a server with several worker processes."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.live.server import insert_usage


def _scrape(server) -> dict[str, float]:
    status, _headers, body = server.request("GET", "/metrics")
    assert status == 200
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "django_http_requests_total_by_method_total":
                if sample.labels.get("method") == "GET":
                    values["get_requests"] = values.get("get_requests", 0) + sample.value
            elif sample.name == "wigtn_messages_total":
                values["messages"] = values.get("messages", 0) + sample.value
    return values


def test_it_answers_the_same_numbers_from_every_worker(start_server, live_env, tmp_path):
    """Usage numbers come from the database; request counters from prometheus_client's
    multiprocess files, so alternating workers never make a counter go backwards."""
    insert_usage(live_env, machine="metrics-workers", per_batch=2)
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    server = start_server(uvicorn_workers=2, PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    for _ in range(20):
        assert server.request("GET", "/health")[0] == 200
    scrapes = [_scrape(server) for _ in range(8)]
    assert {scrape["messages"] for scrape in scrapes} == {scrapes[0]["messages"]}
    assert scrapes[0]["messages"] >= 2
    requests = [scrape["get_requests"] for scrape in scrapes]
    assert requests[0] >= 20
    assert all(later > earlier for earlier, later in zip(requests, requests[1:], strict=False))
    # Each worker keeps its counters in the shared directory, which every scrape sums.
    assert len(list(multiproc.glob("counter_*.db"))) >= 2
