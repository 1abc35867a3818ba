"""From points to the 0-100 scales and to a grade (fit letter + engagement digit, ``A1``..``D4``).

Engagement's saturating curve: with ``raw`` the sum of a contact's decayed signal points and
``s`` the model's ``saturation``,

    engagement = 100 * (1 - 0.5 ** (raw / s))

so ``raw = s`` gives 50, ``2s`` gives 75, ``3s`` gives 87.5: every further ``s`` points halves
the distance to 100. It never reaches 100, is 0 at 0, and grows fastest for the first points,
so a few personal interactions matter more than the hundredth page view.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from clientela.config import DigitCutoffs, LetterCutoffs


def engagement_curve(raw: float, saturation: float) -> float:
    """The curve in plain Python (for docs, tests and explanations)."""
    return 100.0 * (1.0 - float(0.5 ** (max(raw, 0.0) / saturation)))


def engagement_expr(raw: ir.NumericValue, saturation: float) -> ir.NumericValue:
    """The curve as an Ibis expression; negative totals count as 0."""
    clipped = ibis.greatest(raw, 0.0)
    return 100.0 * (1.0 - ibis.literal(0.5) ** (clipped / saturation))


def fit_letter(fit: ir.NumericValue, cutoffs: LetterCutoffs) -> ir.StringValue:
    return ibis.cases(
        (fit >= cutoffs.A, "A"), (fit >= cutoffs.B, "B"), (fit >= cutoffs.C, "C"), else_="D"
    )


def engagement_digit(engagement: ir.NumericValue, cutoffs: DigitCutoffs) -> ir.StringValue:
    return ibis.cases(
        (engagement >= cutoffs.one, "1"),
        (engagement >= cutoffs.two, "2"),
        (engagement >= cutoffs.three, "3"),
        else_="4",
    )


def grade_rank(grade: ir.StringValue) -> ir.IntegerValue:
    """0 for ``A1`` (best) .. 15 for ``D4``; NULL for no grade. Letter first, then digit."""
    letter = grade.substr(0, 1)
    digit = grade.substr(1, 1).cast("int64")
    letter_rank = ibis.cases(
        (letter == "A", 0), (letter == "B", 1), (letter == "C", 2), (letter == "D", 3)
    )
    return letter_rank * 4 + digit - 1
