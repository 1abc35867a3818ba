"""HTTP webhooks: one signed JSON POST per item.

One item per request, so a receiver's 2xx acknowledges exactly that item and the
``Idempotency-Key`` header is that item's id (stable across retries and re-runs). The standard
library's ``urllib.request`` sends it: a POST with a timeout is all that is needed, and
``httpx`` is only a development dependency of the project (FastAPI's test client).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from clientela import __version__
from clientela.activation.destinations.signing import signature
from clientela.activation.store import StoredItem

# Statuses that are worth retrying: the receiver may take the item later. Any other 4xx is
# a refusal of the item itself (bad signature, malformed), and goes straight to dead letters.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class Outcome:
    """What one POST came to."""

    ok: bool
    error: str = ""
    retry: bool = True


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not a delivery: report the 3xx instead of following it with a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def body(item: StoredItem) -> bytes:
    """The JSON body of an item's request (keys sorted: the same bytes on every retry)."""
    document = {
        "id": item.item_id,
        "type": item.kind,
        "destination": item.destination,
        "version": item.version,
        "data": item.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def post(url: str, secret: str, item: StoredItem, timeout: float, now: float) -> Outcome:
    """POST one item; ``ok`` only on a 2xx answer received within ``timeout`` seconds."""
    data = body(item)
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"clientela/{__version__}",
            "Idempotency-Key": item.item_id,
            "X-Clientela-Signature": signature(secret, int(now), data),
        },
    )
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except TimeoutError:
        return Outcome(ok=False, error=f"no answer within {timeout:g} s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return Outcome(ok=False, error=f"no answer within {timeout:g} s")
        return Outcome(ok=False, error=f"could not reach {url}: {reason}")
    except (OSError, ValueError) as exc:  # connection reset mid-answer, a malformed answer
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return Outcome(ok=True)
    retry = status >= 500 or status < 400 or status in RETRYABLE_4XX
    return Outcome(ok=False, error=f"HTTP {status}", retry=retry)
