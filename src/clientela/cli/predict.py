"""The predictions: predict (fit, publish, print the model report and back-tests).

The printing helpers here are shared with ``contacts show``, ``explain`` and ``demo``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import (
    AsOfOpt,
    EngineOpt,
    WorkspaceOpt,
    _engine,
    _first,
    _parse_as_of,
    _require_results,
    app,
)
from clientela.cli.output import _num, _when, console, styled


def _prob(value: Any) -> str:
    """A probability as shown in tables: ``0.731``, or empty when unknown."""
    return "" if value is None else f"{value:.3f}"


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None, in lists and dicts too (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def top_by(eng: Any, column: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` contacts with the highest ``column`` of ``predictions``, with their
    email and lifecycle label (contacts without the value left out)."""
    from clientela.predict.published import table

    preds = table(eng, "predictions")
    people = eng.published("contacts").select("contact_id", "email")
    life = eng.published("lifecycle").select("contact_id", "label")
    joined = (
        preds.filter(preds[column].notnull())
        .left_join(people, preds.contact_id == people.contact_id)
        .left_join(life, preds.contact_id == life.contact_id)
        .select(
            preds.contact_id,
            people.email,
            life.label,
            *[preds[c] for c in preds.columns if c != "contact_id"],
        )
    )
    rows: list[dict[str, Any]] = eng.to_arrow(
        joined.order_by([joined[column].desc(), joined.contact_id]).limit(limit)
    ).to_pylist()
    return rows


def print_model_report(report: Any) -> None:
    """The fitted parameters (with standard errors and log-likelihood) and every back-test
    beside its baseline; a model with no figures says why."""
    from clientela.predict.published import PROPENSITY_MODELS, missing_model

    if not report.models:
        console.print("no lifetime-value model in this published version (run clientela run)")
    for model in report.models:
        if model.status != "fitted":
            console.print(
                styled("[bold]{}[/]: [yellow]{}[/] — {}", model.model, model.status, model.message)
            )
            continue
        pt = Table(
            title=f"{model.model}: fitted on {model.customers or 0:,} customers, "
            f"log-likelihood {_num(model.log_likelihood, 2)}"
        )
        for col in ("parameter", "value", "standard error"):
            pt.add_column(col, justify="left" if col == "parameter" else "right")
        for p in model.parameters:
            pt.add_row(p["parameter"], _num(p["value"], 4), _num(p["se"], 4))
        console.print(pt)
        if model.message:
            console.print(styled("  [yellow]note:[/] {}", model.message))
    # The propensity models always (saying why when they have nothing), then any other
    # model with a back-test (a lifetime-value holdout, say).
    others = [t.model for t in report.backtests if t.model not in PROPENSITY_MODELS]
    for name in [*PROPENSITY_MODELS, *others]:
        why = missing_model(report, name) if name in PROPENSITY_MODELS else None
        if why:
            console.print(why)
            continue
        test = report.backtest(name)
        assert test is not None
        if test.metrics:
            bt = Table(title=f"{name} back-test, beside its baseline")
            for col in ("metric", "model", "baseline", "baseline is", "rows"):
                bt.add_column(
                    col, justify="right" if col in ("model", "baseline", "rows") else "left"
                )
            for f in test.metrics:
                label = f["label"] + (f" (bin {f['bin']})" if f["bin"] is not None else "")
                bt.add_row(
                    label,
                    _num(f["value"], 3),
                    _num(f["baseline"], 3),
                    f["baseline_name"] or "",
                    "" if f["rows"] is None else f"{f['rows']:,}",
                )
            console.print(bt)
        if test.calibration:
            ct = Table(title=f"{name} calibration: mean predicted vs observed rate per bin")
            for col in ("bin", "predicted", "observed", "rows"):
                ct.add_column(col, justify="right")
            for f in test.calibration:
                ct.add_row(
                    str(f["bin"]),
                    _prob(f["baseline"]),
                    _prob(f["value"]),
                    "" if f["rows"] is None else f"{f['rows']:,}",
                )
            console.print(ct)
        for note in test.notes:
            console.print(styled("  [yellow]note:[/] {}", note))


def print_top_clv(rows: list[dict[str, Any]], title: str) -> None:
    """The customers with the highest CLV: who, CLV, P(alive), expected purchases."""
    if not rows:
        console.print("no customer has a CLV in this published version (no fitted model)")
        return
    t = Table(title=title)
    for col in ("contact", "email", "CLV", "P(alive)", "E[purchases]", "E[order value]"):
        t.add_column(
            col,
            justify="left" if col in ("contact", "email") else "right",
            no_wrap=col in ("contact", "email"),
            overflow="ellipsis" if col == "email" else "fold",
            max_width=32 if col == "email" else None,
        )
    for r in rows:
        t.add_row(
            r["contact_id"],
            r.get("email") or "",
            _num(r.get("clv"), 2),
            _prob(r.get("p_alive")),
            _num(r.get("expected_purchases"), 2),
            _num(r.get("expected_order_value"), 2),
        )
    console.print(t)


def print_churn_risks(rows: list[dict[str, Any]], title: str, why_none: str | None) -> None:
    """The customers most at risk of churning, with band and reasons (or why there are none)."""
    from clientela.predict.published import reasons

    if not rows:
        console.print(why_none or "no customer has a churn risk in this published version")
        return
    t = Table(title=title)
    for col in ("contact", "email", "risk", "band", "CLV", "reasons"):
        t.add_column(
            col,
            justify="right" if col in ("risk", "CLV") else "left",
            no_wrap=col in ("contact", "email"),
            overflow="ellipsis" if col == "email" else "fold",
            max_width=20 if col == "email" else None,
            min_width=30 if col == "reasons" else None,
        )
    for r in rows:
        t.add_row(
            r["contact_id"],
            r.get("email") or "",
            _prob(r.get("churn_risk")),
            r.get("churn_band") or "",
            _num(r.get("clv"), 2),
            "\n".join(reasons(r.get("churn_reasons"))),  # one reason per line
        )
    console.print(t)


def contact_predictions(eng: Any, cid: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The contact's ``predictions`` row (None without one) and recommendations, best first."""
    from clientela.predict.published import table

    preds = table(eng, "predictions")
    row = _first(eng, preds.filter(preds.contact_id == cid))
    recs = table(eng, "recommendations")
    suggested = eng.to_arrow(recs.filter(recs.contact_id == cid).order_by(["rank", "product_id"]))
    return row, suggested.to_pylist()


def print_contact_predictions(
    row: dict[str, Any] | None, recommendations: list[dict[str, Any]]
) -> None:
    """What ``contacts show`` and ``explain`` say about a contact's predictions."""
    from clientela.predict.published import reasons

    if row is None and not recommendations:
        console.print("predictions: none (no order yet, and no propensity model scored them)")
        return
    row = row or {}
    if row.get("clv") is not None or row.get("p_alive") is not None:
        console.print(
            styled(
                "[bold]predictions:[/] CLV {}  P(alive) {}  expected purchases {}  "
                "expected order value {}",
                _num(row.get("clv"), 2) or "-",
                _prob(row.get("p_alive")) or "-",
                _num(row.get("expected_purchases"), 2) or "-",
                _num(row.get("expected_order_value"), 2) or "-",
            )
        )
    elif row.get("orders"):
        console.print(
            f"predictions: {row['orders']} orders, {row.get('frequency', 0)} repeat; no CLV "
            "(the lifetime-value model was not fitted, see clientela predict --no-run)"
        )
    for key, label in (("churn", "churn risk"), ("purchase", "purchase propensity")):
        value = row.get("churn_risk" if key == "churn" else "purchase_propensity")
        if value is None:
            continue
        console.print(
            styled("[bold]{}:[/] {} ({})", label, _prob(value), row.get(f"{key}_band") or "no band")
        )
        for reason in reasons(row.get(f"{key}_reasons")):
            console.print(f"  - {reason}")
    if recommendations:
        rt = Table(title="recommendations")
        for col in ("rank", "kind", "product", "category", "score", "reason"):
            rt.add_column(
                col, overflow="fold", justify="right" if col in ("rank", "score") else "left"
            )
        for r in recommendations:
            rt.add_row(
                str(r["rank"]),
                r.get("kind") or "",
                r.get("product_name") or r.get("product_id") or "",
                r.get("category") or "",
                _num(r.get("score"), 3),
                r.get("reason") or "",
            )
        console.print(rt)


@app.command()
def predict(
    run: Annotated[
        bool,
        typer.Option(
            "--run/--no-run",
            help="Run the main job first (fit and publish), or read the latest published version.",
        ),
    ] = True,
    top: Annotated[int, typer.Option(help="How many top customers by CLV to list.")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write the JSON to this file instead.")] = None,
    engine: EngineOpt = None,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Fit and publish the predictions (the main job), then print the model report.

    The report: fitted parameters with standard errors, each back-test beside its baseline,
    the calibration bins, and the top customers by CLV.
    """
    from dataclasses import asdict

    from clientela.errors import ConfigError
    from clientela.predict.published import PROPENSITY_MODELS, missing_model, read_model_report

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")
    if out is not None and fmt != "json":
        raise ConfigError("--out", str(out), "--format json with it (the table is printed)")
    if top < 0:
        raise ConfigError("--top", top, "0 or more")
    if not run and as_of is not None:
        raise ConfigError(
            "--as-of", as_of, "no --as-of with --no-run (it reads the published version as is)"
        )
    if run:
        from clientela.cli.run import _run_job

        done = _run_job(workspace, engine, _parse_as_of(as_of))
        if fmt == "table":
            console.print(
                f"published {done.version} on {done.engine} in {done.seconds:.1f} s "
                f"(as of {_when(done.as_of)})"
            )
    with _engine(workspace) as eng:
        _require_results(eng)
        info = _first(eng, eng.published("run_info")) or {}
        version = eng.current_version()
        report = read_model_report(eng)
        best = top_by(eng, "clv", top) if top else []
    if fmt == "json":
        document = {
            "version": version,
            "as_of": info.get("as_of"),
            "models": [asdict(m) for m in report.models],
            "backtests": [asdict(b) for b in report.backtests],
            "missing": {
                name: why for name in PROPENSITY_MODELS if (why := missing_model(report, name))
            },
            "top_clv": best,
        }
        text = json.dumps(_finite(document), default=str, indent=2, allow_nan=False)
        if out is not None:
            out.write_text(text + "\n", encoding="utf-8")
            console.print(f"wrote the model report to {out}")
        else:
            typer.echo(text)
        return
    console.print(
        styled("[bold]model report[/] of {} (as of {})", version, _when(info.get("as_of")))
    )
    print_model_report(report)
    if top:
        print_top_clv(best, f"top {len(best)} customers by CLV")
