"""The FastAPI example (``examples/fastapi_shop``): enqueue from a route, read the result."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integrations.conftest import FAST

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")  # what starlette.testclient uses

from fastapi.testclient import TestClient
from fastapi_shop import tasks
from fastapi_shop.api import api


@pytest.fixture
def http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("WG_URL", f"sqlite:{tmp_path / 'shop.db'}")
    return TestClient(api)


def work() -> None:
    """A worker in burst mode: runs what the requests enqueued, then returns."""
    asyncio.run(tasks.app.pool(**FAST).run(burst=True))


def test_enqueue_from_a_route_and_read_the_result(http: TestClient) -> None:
    with http:  # runs the lifespan: the app's client opens and, at the end, closes
        response = http.post("/orders/7/receipt", json={"email": "ada@example.com"})
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        assert http.get(f"/jobs/{job_id}").json() == {
            "job_id": job_id,
            "state": "queued",
            "result": None,
            "error": None,
        }
        report = http.post("/reports/2026-12-01").json()["job_id"]
        work()
        done = http.get(f"/jobs/{job_id}", params={"wait": 5}).json()
        assert done == {
            "job_id": job_id,
            "state": "completed",
            "result": {"order_id": 7, "to": "ada@example.com", "sent": True},
        }
        assert http.get(f"/jobs/{report}").json()["result"] == {
            "day": "2026-12-01",
            "orders": 3,
            "attempt": 1,
        }


def test_bad_requests_store_nothing(http: TestClient) -> None:
    with http:
        assert http.post("/orders/seven/receipt", json={"email": "a@b.c"}).status_code == 422
        assert http.post("/reports/2026-12-01", params={"delay": -5}).status_code == 422
        assert http.get("/jobs/not-a-job-id").status_code == 404
        assert http.get("/jobs/0193c1de-8a4b-7c1e-9f3a-2b7d5e6a9c01").status_code == 404
        counts = tasks.app.blocking.counts()
        tasks.app.close_blocking()
        assert counts.total == 0
