"""The HTTP API: ``uvicorn fastapi_shop.api:api`` (from the ``examples`` directory).

- The app's client is opened in the lifespan (``async with tasks.app``) and closed on
  shutdown: one connection pool for every request.
- ``POST /orders/{order_id}/receipt`` enqueues a task and answers 202 with the job id.
- ``GET /jobs/{job_id}`` reads the job: its state, and its result once it completed
  (``?wait=5`` waits up to 5 s for it to finish first).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from fastapi_shop import tasks
from wg_core import JobFailedError, JobNotFoundError, JobState, TaskArgumentError


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with tasks.app:  # opens the client; closes it on shutdown
        yield


api = FastAPI(lifespan=lifespan)


class Receipt(BaseModel):
    email: str


@api.post("/orders/{order_id}/receipt", status_code=202)
async def send_receipt(order_id: int, body: Receipt) -> dict[str, str]:
    job_id = await tasks.send_receipt.enqueue(order_id, body.email)
    return {"job_id": job_id}


@api.post("/reports/{day}", status_code=202)
async def sales_report(day: str, delay: float = 0.0) -> dict[str, str]:
    try:
        job_id = await tasks.sales_report.with_options(delay=delay).enqueue(day)
    except (TaskArgumentError, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return {"job_id": job_id}


@api.get("/jobs/{job_id}")
async def job(job_id: str, wait: float = 0.0) -> dict[str, Any]:
    client = tasks.app.client()
    if wait > 0:
        try:
            result = await client.result(job_id, timeout=min(wait, 30.0))
        except JobNotFoundError:
            raise HTTPException(status_code=404, detail="no such job") from None
        except (JobFailedError, TimeoutError):
            pass  # the state below says which
        else:
            return {"job_id": job_id, "state": JobState.COMPLETED, "result": result}
    try:
        info = await client.get_job(job_id)
    except ValueError:  # not a job id at all
        info = None
    if info is None:
        raise HTTPException(status_code=404, detail="no such job")
    return {
        "job_id": job_id,
        "state": info.state,
        "result": info.result if info.state is JobState.COMPLETED else None,
        "error": info.last_error,
    }
