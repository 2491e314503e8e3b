"""Telling people and systems that something happened: log by default, a webhook when configured."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import dagster as dg
from pydantic import Field

log = logging.getLogger("av")


class Notifier(dg.ConfigurableResource):
    """Pluggable notification of pipeline events (a drive landed, was quarantined, ...).

    `webhook_url` (or $AV_WEBHOOK_URL) makes it POST one JSON event per call; without it the event is
    only logged. A failing webhook is logged, never fails the step: the lake is the source of truth,
    the notification a courtesy."""

    webhook_url: str | None = Field(
        default=None, description="POST target; else $AV_WEBHOOK_URL; else log only"
    )
    timeout_s: float = 5.0

    def _url(self) -> str | None:
        return self.webhook_url or os.environ.get("AV_WEBHOOK_URL") or None

    def notify(self, event: dict[str, Any]) -> bool:
        log.info("event: %s", json.dumps(event, sort_keys=True, default=str))
        url = self._url()
        if not url:
            return False
        import urllib.request

        req = urllib.request.Request(
            url,
            data=json.dumps(event, default=str).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - configured URL
                return 200 <= resp.status < 300
        except OSError as exc:
            log.warning("webhook %s failed: %s", url, exc)
            return False
