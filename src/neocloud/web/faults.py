"""Faults of the server: an exception that is not the user's mistake is logged under an incident id and
counted (the count is shown to an authorised user by ``GET /api/metrics``; ``/healthz`` shows nothing)."""

from __future__ import annotations

import logging
import uuid
from threading import Lock

LOG = logging.getLogger("neocloud.web")


class Faults:
    """The server's 500s: how many since start, and the last incident id."""

    def __init__(self) -> None:
        self.count = 0
        self.last_incident: str | None = None
        self._lock = Lock()

    def record(self, method: str, path: str, err: BaseException) -> str:
        """Log ``err`` with its traceback under a new incident id, count it, and return the id."""
        incident = uuid.uuid4().hex[:12]
        LOG.error("incident %s: %s %s", incident, method, path, exc_info=err)
        with self._lock:
            self.count += 1
            self.last_incident = incident
        return incident
