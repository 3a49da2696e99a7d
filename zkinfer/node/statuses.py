"""The node's statuses: its own errors' entries in the serving layer's table, and a job's status.

The service raises typed errors and knows no statuses; which error gets which status is the one
table in `zkinfer.serving.statuses`, to which the node adds its lookups (404) and its full queue
(429 with Retry-After).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from zkinfer.node.service import QueueFull, UnknownModel, UnknownReceipt
from zkinfer.node.store import JobState, JobView
from zkinfer.serving import statuses

log = logging.getLogger("zkinfer.node")
STATUS = statuses.table((UnknownModel, 404), (UnknownReceipt, 404), (QueueFull, 429))


def ready(is_ready: bool) -> int:
    return 200 if is_ready else 503


def job(view: JobView) -> int:
    """A receipt lookup: 200 proven, 202 still queued, 422 its input could not be proven, 500 the node failed."""
    if view.state is JobState.PROVEN:
        return 200
    if view.state is JobState.FAILED:
        return 500 if view.internal_error else 422
    return 202


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error raised by a route into its status."""
    statuses.install(app, STATUS, log, "node")
