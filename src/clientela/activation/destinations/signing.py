"""Webhook signatures and retry timing.

``X-Clientela-Signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is the HMAC-SHA256,
keyed with the destination's secret, of ``"<t>."`` followed by the exact body bytes. The
time inside the signed text lets a receiver refuse old replays (:func:`verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import random


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Clientela-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """What a receiver does: parse the header, recompute the HMAC over ``t.`` + body, compare
    in constant time, and refuse a timestamp more than ``tolerance`` seconds away."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    given = parts.get("v1", "")
    return hmac.compare_digest(expected, given) and abs(now - timestamp) <= tolerance


class Backoff:
    """Exponential backoff with full jitter: after the n-th failed attempt, wait a uniform
    random time in [0, min(cap, base * 2^(n-1))]. The jitter spreads the retries of many
    items (and many senders) so a receiver coming back is not hit by all of them at once."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng or random.Random()

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` failed attempts (1 or more)."""
        return float(min(self.cap, self.base * 2 ** (failures - 1)))

    def delay(self, failures: int) -> float:
        """How long to wait before the next attempt."""
        return self.rng.uniform(0, self.ceiling(failures))
