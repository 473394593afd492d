"""Fixtures of the serve tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve.webhook_receiver import WebhookReceiver


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A running receiver whose URL is in DOTSYNC_WEBHOOK_URL."""
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("DOTSYNC_WEBHOOK_URL", receiver.url)
        yield receiver
