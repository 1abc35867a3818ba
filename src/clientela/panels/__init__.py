"""Report panels shared by the HTML report (and, later, other surfaces): plain functions
that take published tables (pyarrow) and a :class:`Canvas`, and return HTML with Plotly
figure specs registered on the canvas.

* :mod:`~clientela.panels.predict`: the Predictions section (CLV, P(alive), churn risk,
  calibration, back-tests);
* :mod:`~clientela.panels.activation`: the Activation section (segment members over time,
  the latest run's actions, loyalty tiers).
"""

from __future__ import annotations

from typing import Any, Protocol


class Canvas(Protocol):
    """Where a panel puts its charts and frames (the report's ``_Report`` is one)."""

    def plot(
        self, data: list[dict[str, Any]], layout: dict[str, Any], height: int, label: str
    ) -> str:
        """A chart's placeholder HTML; the figure is kept to be written into the page."""
        ...

    def figure(self, title: str, what: str, formula: str, body: str, wide: bool = False) -> str:
        """A chart or table with its title, one-line explanation and formula."""
        ...


__all__ = ["Canvas"]
