"""The CDNOW sample (Fader, Hardie & Lee 2005), read from the `lifetimes` package's data files.

`lifetimes` (a test-only dependency) is located with ``find_spec`` and never imported: it does
not import on every numpy/pandas. The sample has one line per order: the master id, the
sample id (1..2357), the date (YYYYMMDD), the number of CDs and the dollar value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path

import pytest

from journeys import Journeys

CALIBRATION_END = datetime(1997, 9, 30, 23, 59, 59, tzinfo=UTC)
"""The end of week 39 from 1997-01-01 (the paper's calibration period)."""
HOLDOUT_END = datetime(1998, 6, 30, 23, 59, 59, tzinfo=UTC)
"""The end of week 78: weeks 40-78 are the holdout period."""
HOLDOUT_WEEKS = 39.0

# Published values: Fader, Hardie & Lee (2005), and Fader & Hardie (2013).
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
BGNBD_LL = -9582.4
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@dataclass(frozen=True)
class Order:
    customer: str
    when: datetime
    cds: int
    value: float


def data_dir() -> Path:
    """The folder of lifetimes' data files (skips the test when lifetimes is not installed)."""
    spec = find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the CDNOW sample comes with the test dependency lifetimes==0.11.3")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def orders() -> list[Order]:
    """Every order of the CDNOW sample (6,919 lines, 2,357 customers), at noon UTC."""
    out = []
    for line in (data_dir() / "CDNOW_sample.txt").read_text(encoding="ascii").splitlines():
        _, sample_id, day, cds, value = line.split()
        when = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), 12, tzinfo=UTC)
        out.append(Order(f"cdnow-{int(sample_id):04d}", when, int(cds), float(value)))
    return out


def as_events(rows: list[Order]) -> Journeys:
    """The orders as Segment ``Order Completed`` track calls. The value is written in each of
    the three places clientela reads it from, in turn: ``revenue``, ``total``, and products
    (price × quantity), so the CDNOW fit also checks the order-value fallbacks."""
    j = Journeys()
    for k, order in enumerate(rows):
        if k % 3 == 0:
            properties: dict[str, object] = {"revenue": order.value}
        elif k % 3 == 1:
            properties = {"total": order.value, "currency": "USD"}
        else:
            properties = {
                "products": [{"product_id": "cd", "price": order.value, "quantity": 1}],
            }
        properties["order_id"] = f"o{k}"
        j.track(
            "Order Completed",
            at=order.when,
            user_id=order.customer,
            properties=properties,
            message_id=f"cdnow-{k}",
        )
    return j
