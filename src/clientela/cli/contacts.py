"""Looking at contacts: contacts show|list, explain."""

from __future__ import annotations

import functools
import operator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import (
    WorkspaceOpt,
    _engine,
    _first,
    _hint_if_nothing_landed,
    _listed,
    _require_results,
    app,
)
from clientela.cli.output import _emit_rows, _num, _when, console, err_console, styled

contacts_app = typer.Typer(help="Look at contacts (run 'clientela run' first).")
app.add_typer(contacts_app, name="contacts")


def _find_contact(eng: Any, text: str) -> str:
    """The contact id for a contact id, userId, anonymousId or email."""
    from clientela.errors import NotFoundError

    ids = eng.published("identities")
    wanted = text.strip()
    hit = _first(
        eng,
        ids.filter(
            (ids.value == wanted) | (ids.value == wanted.lower()) | (ids.contact_id == wanted)
        ),
    )
    if hit is None:
        raise NotFoundError(f"no contact has the id, userId, anonymousId or email {text!r}")
    return str(hit["contact_id"])


@contacts_app.command("show")
def contacts_show(
    contact: Annotated[str, typer.Argument(help="Contact id, userId, anonymousId or email.")],
    events: Annotated[int, typer.Option(help="How many recent events to show.")] = 15,
    workspace: WorkspaceOpt = None,
) -> None:
    """A contact: identities, traits, account, predictions, loyalty and event timeline."""
    from ibis import _

    from clientela.activation import actions as published_actions
    from clientela.activation.loyalty.published import contact as contact_loyalty
    from clientela.cli.loyalty import loyalty_lines
    from clientela.cli.predict import contact_predictions, print_contact_predictions

    with _engine(workspace) as eng:
        _require_results(eng)
        ids = eng.published("identities")
        cid = _find_contact(eng, contact)
        profile = _first(eng, eng.published("contacts").filter(_.contact_id == cid)) or {}
        mine = eng.to_arrow(
            ids.filter(ids.contact_id == cid).order_by(["kind", "value"])
        ).to_pylist()
        traits = eng.to_arrow(
            eng.published("contact_traits").filter(_.contact_id == cid).order_by("trait")
        ).to_pylist()
        members = eng.to_arrow(eng.published("memberships").filter(_.contact_id == cid)).to_pylist()
        accounts = eng.published("accounts")
        account = None
        if profile.get("account_id"):
            account = _first(eng, accounts.filter(accounts.account_id == profile["account_id"]))
        conflicts = eng.to_arrow(
            eng.published("identity_conflicts").filter(
                (_.kept_contact == cid) | (_.refused_contact == cid)
            )
        ).to_pylist()
        merges = eng.to_arrow(
            eng.published("identity_merges")
            .filter(_.contact_id == cid)
            .order_by(["seen_at", "user_id"])
        ).to_pylist()
        user_ids = [i["value"] for i in mine if i["kind"] == "user_id"]
        anon_ids = [i["value"] for i in mine if i["kind"] == "anonymous_id"]
        landed = eng.landed("events")
        # Only the id lists a contact has: an empty list has no SQL form, and a sentinel
        # value such as NUL ends DuckDB's string literal.
        theirs = []
        if user_ids:
            theirs.append(landed.user_id.isin(user_ids))
        if anon_ids:
            theirs.append(landed.user_id.isnull() & landed.anonymous_id.isin(anon_ids))
        timeline = []
        if theirs:
            timeline = eng.to_arrow(
                landed.filter(functools.reduce(operator.or_, theirs))
                .order_by(landed.timestamp.desc())
                .limit(events)
                .select("timestamp", "type", "event", "name", "properties")
            ).to_pylist()
        total = profile.get("events", 0)
        view = _first(eng, eng.published("lifecycle").filter(_.contact_id == cid)) or {}
        history = eng.to_arrow(
            eng.published("stage_history").filter(_.contact_id == cid).order_by("entered_at")
        ).to_pylist()
        predicted, suggested = contact_predictions(eng, cid)
        points = contact_loyalty(eng, cid)
        acts = published_actions.select(published_actions.table(eng, "actions"), contact_id=cid)
        next_action = _first(eng, published_actions.ordered(acts))

    console.print(
        styled(
            "[bold]{}[/]  {}  [bold]{}[/]", cid, profile.get("email") or "", view.get("label", "")
        )
    )
    _print_3d(view)
    console.print(
        f"first seen {_when(profile.get('first_seen'))}  "
        f"last seen {_when(profile.get('last_seen'))}  "
        f"events {total:,}  identified {profile.get('identified')}  in CRM {profile.get('in_crm')}"
    )
    print_contact_predictions(predicted, suggested)
    loyalty_lines(points)
    if next_action:
        # The playbook's pick of the latest run, and whether the policy lets it leave.
        verdict = next_action["status"]
        if next_action.get("suppressed_reason"):
            verdict += f": {next_action['suppressed_reason']}"
        console.print(
            styled(
                "next action: [bold]{}[/] by {} ({}, {}) — {}",
                next_action["action"],
                next_action["channel"],
                next_action["purpose"],
                verdict,
                next_action["reason"],
            )
        )
    idt = Table(title="identities")
    for col in ("kind", "value", "first seen", "last seen"):
        idt.add_column(col)
    for i in mine:
        idt.add_row(i["kind"], i["value"], _when(i["first_seen"]), _when(i["last_seen"]))
    console.print(idt)
    if traits:
        tt = Table(title="traits (latest value wins)")
        for col in ("trait", "value", "updated", "from"):
            tt.add_column(col, overflow="fold")
        for t in traits:
            tt.add_row(t["trait"], t["value"], _when(t["updated_at"]), t["source"])
        console.print(tt)
    if account:
        console.print(
            styled(
                "[bold]account[/] {} {} ({}, {} members)",
                account["account_id"],
                account.get("name") or "",
                account.get("domain") or "no domain",
                account.get("members", 0),
            )
        )
    for m in members:
        console.print(f"  member of {m['account_id']} since {_when(m['since'])} ({m['reasons']})")
    for m in merges:
        console.print(
            styled(
                "[green]merged[/] {} with {} ({}): {}",
                m["user_id"],
                m["merged_with"],
                m["reason"],
                m["evidence"],
            )
        )
    for c in conflicts:
        console.print(
            styled(
                "[yellow]refused merge[/] {} {}: kept with {}, not {} — {}",
                c["kind"],
                c["value"],
                c["kept_contact"],
                c["refused_contact"],
                c["reason"],
            )
        )
    if history:
        ht = Table(title="stage history")
        for col in ("stage", "entered", "exited", "days", "reason"):
            ht.add_column(col, overflow="fold")
        for h in history:
            ht.add_row(
                h["stage"],
                _when(h["entered_at"]),
                _when(h["exited_at"]) if h["exited_at"] else "(current)",
                _num(h["days_in_stage"]),
                h["reason"],
            )
        console.print(ht)
    tl = Table(title=f"latest {len(timeline)} of {total:,} events")
    for col in ("time", "type", "what", "properties"):
        tl.add_column(col, overflow="fold")
    for e in timeline:
        what = e["event"] or e["name"] or ""
        props = e["properties"] or ""
        tl.add_row(
            _when(e["timestamp"]), e["type"], what, props[:80] + ("…" if len(props) > 80 else "")
        )
    console.print(tl)


def _print_3d(view: dict[str, Any]) -> None:
    """The 3D score, audience class and next initiative of one lifecycle row."""
    if not view:
        return
    cls = view.get("audience_class") or "buyer"
    if view.get("scored"):
        console.print(
            f"fit {_num(view.get('fit'))} ({view.get('fit_letter')})  "
            f"engagement {_num(view.get('engagement'))} ({view.get('engagement_digit')})  "
            f"model {view.get('model')}"
        )
    else:
        console.print(f"not scored as a lead (audience class {cls}, policy {view.get('policy')})")
    console.print(
        f"lifecycle: {view.get('stage')} for {_num(view.get('days_in_stage'))} days "
        f"({view.get('stage_reason')}); orders {view.get('orders', 0)}, products "
        f"{view.get('products', 0)} in {view.get('categories', 0)} categories, tenure "
        f"{_num(view.get('tenure_days'), 0) or '-'} days, last active "
        f"{_num(view.get('recency_days'), 0) or '-'} days ago"
    )
    status = view.get("subscription_status")
    if status:
        ended = view.get("subscription_ended_at")
        console.print(
            f"subscription: {status}, plan {view.get('plan') or '-'}, "
            f"MRR {_num(view.get('mrr'), 2)}, since {_when(view.get('subscribed_at'))}"
            + (f", ended {_when(ended)}" if ended and status != "active" else "")
        )
    console.print(
        f"audience class: {cls}" + (f" — {view['evidence']}" if view.get("evidence") else "")
    )
    console.print(styled("[bold]next initiative:[/] {}", view.get("next_initiative")))


LIST_COLUMNS = (
    "contact_id",
    "email",
    "label",
    "fit",
    "engagement",
    "audience_class",
    "account_id",
    "last_seen",
    "next_initiative",
)


@contacts_app.command("list")
def contacts_list(
    limit: Annotated[int, typer.Option(help="Rows to show (0: all).")] = 20,
    grade: Annotated[
        str | None, typer.Option(help="Grades or fit letters, comma-separated: A1,A2 or A,B.")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="Stages, comma-separated.")] = None,
    audience: Annotated[
        str | None,
        typer.Option("--class", help="Audience classes, comma-separated (buyer, student...)."),
    ] = None,
    account: Annotated[str | None, typer.Option(help="Only members of this account id.")] = None,
    min_fit: Annotated[float | None, typer.Option(help="Fit at least this.")] = None,
    max_fit: Annotated[float | None, typer.Option(help="Fit at most this.")] = None,
    min_engagement: Annotated[float | None, typer.Option(help="Engagement at least.")] = None,
    max_engagement: Annotated[float | None, typer.Option(help="Engagement at most.")] = None,
    identified: Annotated[
        bool | None,
        typer.Option(
            "--identified/--anonymous", help="Only identified or only anonymous contacts."
        ),
    ] = None,
    min_p_alive: Annotated[
        float | None, typer.Option(help="P(alive) at least this (0 to 1).")
    ] = None,
    max_p_alive: Annotated[
        float | None, typer.Option(help="P(alive) at most this (0 to 1).")
    ] = None,
    min_clv: Annotated[float | None, typer.Option(help="CLV at least this.")] = None,
    min_churn_risk: Annotated[
        float | None, typer.Option(help="Churn risk at least this (0 to 1).")
    ] = None,
    max_churn_risk: Annotated[
        float | None, typer.Option(help="Churn risk at most this (0 to 1).")
    ] = None,
    min_purchase_propensity: Annotated[
        float | None, typer.Option(help="Purchase propensity at least this (0 to 1).")
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            help="grade (best grade, then most engaged), or the highest clv, p_alive, "
            "churn_risk or purchase_propensity first."
        ),
    ] = "grade",
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv, json or parquet (needs --out).")
    ] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Contacts, best grade first (then most engaged) or by a prediction, with filters."""
    from clientela.errors import ConfigError
    from clientela.lifecycle import select_contacts
    from clientela.metrics.base import FIT_LETTERS, check_values
    from clientela.predict import published

    bounds = {
        "min_p_alive": min_p_alive,
        "max_p_alive": max_p_alive,
        "min_clv": min_clv,
        "min_churn_risk": min_churn_risk,
        "max_churn_risk": max_churn_risk,
        "min_purchase_propensity": min_purchase_propensity,
    }
    published.check_bounds(**bounds)
    published.check_sort(sort)

    if fmt not in ("table", "csv", "json", "parquet"):
        raise ConfigError("--format", fmt, "table, csv, json or parquet")
    if fmt == "parquet" and out is None:
        raise ConfigError("--out", None, "a file to write when --format parquet")

    grades = [g.upper() for g in _listed(grade)]
    with _engine(workspace) as eng:
        settings = eng.workspace.settings
        check_values(settings, "grade", grades, also=tuple(FIT_LETTERS))
        check_values(settings, "stage", _listed(stage))
        check_values(settings, "class", _listed(audience))
        _require_results(eng)
        view = eng.published("lifecycle")
        people = eng.published("contacts").select("contact_id", "email", "last_seen", "identified")
        t = view.join(people, "contact_id")
        t = select_contacts(
            t,
            grades=grades,
            stages=_listed(stage),
            classes=_listed(audience),
            account=account or None,
            identified=identified,
            min_fit=min_fit,
            max_fit=max_fit,
            min_engagement=min_engagement,
            max_engagement=max_engagement,
        )
        predictions = published.table(eng, "predictions")
        t = published.with_predictions(t, predictions)
        asked = [
            c
            for c in ("clv", "p_alive", "churn_risk", "purchase_propensity")
            if c == sort or bounds.get(f"min_{c}") is not None or bounds.get(f"max_{c}") is not None
        ]
        for column in asked:
            if not eng.to_arrow(predictions[column].count()).as_py():
                # A filter on a column nobody has matches nobody: say why, away from data.
                why = published.missing_column(eng, column)
                err_console.print(styled("[yellow]hint:[/] {}", why), soft_wrap=True)
        t = published.select_predictions(t, **bounds)
        ordered = published.ordered(t, sort)
        if limit:
            ordered = ordered.limit(limit)
        rows_table = eng.to_arrow(ordered.select(*LIST_COLUMNS, *published.CONTACT_COLUMNS))
        total = int(eng.to_arrow(t.count()).as_py())
        if not total:
            _hint_if_nothing_landed(eng.workspace)
    if fmt == "table" and out is None:
        # Terminal tables keep to what fits; csv, json and parquet carry every column. The
        # predictions sorted or filtered by are shown instead of the class and account.
        shown = ["contact_id", "email", "label", "fit", "engagement"]
        shown += asked or ["audience_class", "account_id"]
        rows_table = _probabilities_as_text(rows_table.select(shown))
    _emit_rows(rows_table, fmt, out, title=f"contacts ({rows_table.num_rows:,} of {total:,})")


def _probabilities_as_text(rows_table: Any) -> Any:
    """Probability columns as three-decimal text (the table's one decimal would hide them)."""
    import pyarrow as pa

    for name in ("p_alive", "churn_risk", "purchase_propensity"):
        if name in rows_table.column_names:
            values = rows_table.column(name).to_pylist()
            text = pa.array([None if v is None else f"{v:.3f}" for v in values], pa.string())
            rows_table = rows_table.set_column(rows_table.column_names.index(name), name, text)
    return rows_table


@app.command()
def explain(
    contact: Annotated[str, typer.Argument(help="Contact id, userId, anonymousId or email.")],
    model: Annotated[str | None, typer.Option(help="Scoring model (default: the primary).")] = None,
    every: Annotated[
        bool, typer.Option("--events", help="List every ledger row, not one per signal.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Why a contact's score is what it is: every rule and signal, adding up to the total.

    Then the contact's predictions: CLV, churn risk and its reasons, recommendations.
    """
    from ibis import _

    from clientela.cli.predict import contact_predictions, print_contact_predictions
    from clientela.errors import NotFoundError
    from clientela.scoring.grade import engagement_curve

    with _engine(workspace) as eng:
        _require_results(eng)
        cid = _find_contact(eng, contact)
        view = _first(eng, eng.published("lifecycle").filter(_.contact_id == cid)) or {}
        run_info = _first(eng, eng.published("run_info")) or {}
        chosen = model or view.get("model")
        score_row = None
        if chosen:
            score_row = _first(
                eng,
                eng.published("scores").filter((_.contact_id == cid) & (_.model == chosen)),
            )
        if model and score_row is None:
            raise NotFoundError(f"model {model!r} does not apply to contact {cid}")
        rows = eng.to_arrow(
            eng.published("score_ledger")
            .filter((_.contact_id == cid) & (_.model == (chosen or "")))
            .order_by(["dimension", _.event_at.desc(), "rule"])
        ).to_pylist()
        settings = eng.workspace.settings
        predicted, suggested = contact_predictions(eng, cid)
    console.print(
        styled(
            "[bold]{}[/]  {}  as of {}", cid, view.get("label", ""), _when(run_info.get("as_of"))
        )
        + (f"  model {chosen}" if chosen else "")
    )
    if not score_row or not score_row.get("scored"):
        console.print(
            f"not scored as a lead: audience class {view.get('audience_class')} "
            f"(policy {view.get('policy')}) — {view.get('evidence') or 'no model applies'}"
        )
        print_contact_predictions(predicted, suggested)
        console.print(styled("[bold]next initiative:[/] {}", view.get("next_initiative")))
        return
    fit_rows = [r for r in rows if r["dimension"] == "fit"]
    ft = Table(title=f"fit = {score_row['fit']:g} → letter {score_row['fit_letter']}")
    for col in ("rule", "detail", "points"):
        ft.add_column(col, overflow="fold", justify="right" if col == "points" else "left")
    for r in fit_rows:
        ft.add_row(r["rule"], r["detail"], f"{r['points']:+g}")
    ft.add_row(
        styled("[bold]total[/]"), "", styled("[bold]{:g}[/]", sum(r["points"] for r in fit_rows))
    )
    console.print(ft)
    eng_rows = [r for r in rows if r["dimension"] == "engagement"]
    raw = score_row["engagement_points"]
    saturation = settings.models[chosen].saturation if chosen in settings.models else 0.0
    title = (
        f"engagement: {raw:,.2f} raw points → 100 * (1 - 0.5 ** ({raw:,.2f} / {saturation:g})) "
        f"= {engagement_curve(raw, saturation) if saturation else 0:.1f} → digit "
        f"{score_row['engagement_digit']}"
    )
    et = Table(title=title)
    if every:
        for col in ("signal", "event", "when", "raw", "decay", "points"):
            et.add_column(col, overflow="fold")
        for r in eng_rows:
            et.add_row(
                r["rule"],
                r["detail"],
                _when(r["event_at"]),
                f"{r['raw_points']:g}",
                f"{r['decay']:.4f}",
                f"{r['points']:.3f}",
            )
    else:
        per: dict[str, list[Any]] = {}
        for r in eng_rows:
            item = per.setdefault(r["rule"], [0, 0.0, 0.0, None])
            item[0] += 1
            item[1] += r["raw_points"]
            item[2] += r["points"]
            item[3] = max(item[3], r["event_at"]) if item[3] else r["event_at"]
        for col in ("signal", "events", "raw points", "after decay and caps", "latest"):
            et.add_column(col, justify="left" if col in ("signal", "latest") else "right")
        for name, (n, raw_sum, pts, latest) in sorted(per.items(), key=lambda kv: -kv[1][2]):
            et.add_row(name, f"{n:,}", f"{raw_sum:,.0f}", f"{pts:,.3f}", _when(latest))
    total = sum(r["points"] for r in eng_rows)
    et.add_row(styled("[bold]total[/]"), "", "", styled("[bold]{:,.3f}[/]", total), "")
    console.print(et)
    console.print(
        styled(
            "lifecycle: [bold]{}[/] ({}), {} orders, tenure {} days",
            view.get("stage"),
            view.get("stage_reason"),
            view.get("orders", 0),
            _num(view.get("tenure_days"), 0) or "-",
        )
    )
    print_contact_predictions(predicted, suggested)
    console.print(styled("[bold]next initiative:[/] {}", view.get("next_initiative")))
