"""The loyalty programme: loyalty show ID, loyalty summary.

The printing helpers here are shared with ``contacts show``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import WorkspaceOpt, _engine, _require_results, app
from clientela.cli.contacts import _find_contact
from clientela.cli.output import _num, _when, console, styled

loyalty_app = typer.Typer(help="The loyalty and referral programmes (run 'clientela run' first).")
app.add_typer(loyalty_app, name="loyalty")

FormatOpt = Annotated[str, typer.Option("--format", help="table or json.")]


def _check_format(fmt: str) -> None:
    from clientela.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError("--format", fmt, "table or json")


def loyalty_lines(view: dict[str, Any]) -> None:
    """The contact's balance, tier and next expiry in one or two lines (``contacts show``)."""
    member = view["member"]
    if member is None:
        console.print("loyalty: not a member (their audience class is not in [loyalty])")
    else:
        since = f" since {_when(member['tier_since'])}" if member["tier_since"] else ""
        expiry = (
            f"; {_num(member['next_expiry_points'], 0)} lapse {_when(member['next_expiry_at'])}"
            if member["next_expiry_at"]
            else ""
        )
        console.print(
            styled(
                "loyalty: [bold]{}[/]{} ({} rolling points); balance {}{}",
                member["tier"],
                since,
                _num(member["rolling_points"], 0),
                _num(member["balance"], 0),
                expiry,
            )
        )
    made = view["referrals"]
    if made:
        converted = sum(1 for r in made if r["converted_at"] is not None)
        console.print(f"referrals: {len(made)} sent, {converted} converted")
    if view["referred_by"]:
        console.print(f"referred by {view['referred_by']['referrer_id']}")


@loyalty_app.command("show")
def loyalty_show(
    contact: Annotated[str, typer.Argument(help="Contact id, userId, anonymousId or email.")],
    fmt: FormatOpt = "table",
    workspace: WorkspaceOpt = None,
) -> None:
    """A member's balance, tier, next expiry, every ledger row with its rule and event,
    and the referrals they made."""
    from clientela.activation.loyalty.published import contact as contact_loyalty

    _check_format(fmt)
    with _engine(workspace) as eng:
        _require_results(eng)
        cid = _find_contact(eng, contact)
        view = contact_loyalty(eng, cid)
    if fmt == "json":
        typer.echo(json.dumps(view, default=str, indent=2))
        return
    console.print(styled("[bold]{}[/]", cid))
    loyalty_lines(view)
    if view["member"] is not None:
        m = view["member"]
        console.print(
            f"earned {_num(m['earned'], 0)}  redeemed {_num(-m['redeemed'], 0)}  "
            f"expired {_num(-m['expired'], 0)}"
        )
    if view["ledger"]:
        lt = Table(title="ledger (oldest first)")
        for col in ("at", "kind", "rule", "points", "event", "expires", "reason"):
            lt.add_column(col, justify="right" if col == "points" else "left", overflow="fold")
        for r in view["ledger"]:
            lt.add_row(
                _when(r["at"]),
                r["kind"],
                r["rule"],
                _num(r["points"], 0),
                r["message_id"] or "",
                _when(r["expires_at"]) if r["expires_at"] else "",
                r["reason"] or "",
            )
        console.print(lt)
    if view["referrals"]:
        rt = Table(title="referrals made")
        for col in ("sent", "invited", "contact", "joined", "converted", "reward"):
            rt.add_column(col, overflow="fold")
        for r in view["referrals"]:
            rt.add_row(
                _when(r["referred_at"]),
                r["invited"] or "",
                r["invited_id"] or "-",
                _when(r["joined_at"]),
                _when(r["converted_at"]),
                _num(r["reward_points"], 0),
            )
        console.print(rt)


def print_summary(found: dict[str, Any]) -> None:
    """The programme summary as printed by ``loyalty summary`` (and the demo)."""
    console.print(
        f"loyalty: {found['members']:,} members, {found['members_with_points']:,} holding "
        f"points; liability {_num(found['liability'], 0)} points; issued "
        f"{_num(found['issued'], 0)}, redeemed {_num(found['redeemed'], 0)}, expired "
        f"{_num(found['expired'], 0)}"
    )
    tt = Table(title="tier mix")
    for col in ("tier", "members", "points held"):
        tt.add_column(col, justify="left" if col == "tier" else "right")
    for t in found["tiers"]:
        tt.add_row(t["tier"], f"{t['members']:,}", _num(t["balance"], 0))
    console.print(tt)
    ref = found["referrals"]
    rate = "n/a" if ref["conversion_rate"] is None else f"{ref['conversion_rate']:.1f}%"
    console.print(
        f"referrals: {ref['invitations']:,} sent, {ref['joined']:,} joined, "
        f"{ref['converted']:,} converted ({rate}), {_num(ref['reward_points'], 0)} points rewarded"
    )


@loyalty_app.command("summary")
def loyalty_summary(fmt: FormatOpt = "table", workspace: WorkspaceOpt = None) -> None:
    """The programme as of the published run: members, liability, points issued, redeemed
    and expired, the tier mix and referral conversion."""
    from clientela.activation.loyalty.published import summary

    _check_format(fmt)
    with _engine(workspace) as eng:
        _require_results(eng)
        found = summary(eng, list(eng.workspace.settings.loyalty.tiers))
    if fmt == "json":
        typer.echo(json.dumps(found, default=str, indent=2))
        return
    print_summary(found)
