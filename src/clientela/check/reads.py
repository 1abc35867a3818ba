"""What the settings read from events: signals, ``[stages.events]``, ``[metrics.events]``
and ``[metrics.fields]`` lists, and the stage rules and metrics each one drives."""

from __future__ import annotations

from typing import Any

from clientela.check.results import Concept
from clientela.config import Settings, Signal

# Which metrics read each [metrics.events] list and each [metrics.fields] property (and on
# which lists' events that property is expected). A list or field missing here is still
# checked; only the metric names are not shown. tests/test_check.py keeps it in step with the
# settings and the metrics catalogue.
METRICS_BY_EVENTS: dict[str, tuple[str, ...]] = {
    "activity": ("engagement_growth", "activity_vs_engagement"),
    "engagement": ("engagement_growth", "activity_vs_engagement"),
    "login": ("login_hours",),
    "post": ("ugc_share", "content_ratio", "first_response"),
    "share": ("content_ratio",),
    "like": ("content_ratio",),
    "report": ("self_moderation",),
    "moderation": ("self_moderation",),
    "ticket": ("first_response", "first_response_by_medium"),
    "reply": ("first_response", "first_response_by_medium"),
    "review": ("ratings",),
    "referral": ("referrals",),
}
FIELD_EVENTS: dict[str, tuple[str, ...]] = {
    "ticket_id": ("ticket", "reply"),
    "post_id": ("post", "report", "moderation"),
    "parent_id": ("post",),
    "author_role": ("reply",),
    "rating": ("review",),
    "referred_email": ("referral",),
    "medium": ("ticket", "post"),
}
_SUBSCRIPTION_METRICS = ("subscribers", "mrr", "revenue_retention")
METRICS_BY_STAGE_EVENTS: dict[str, tuple[str, ...]] = {
    "purchase": ("referrals", *_SUBSCRIPTION_METRICS),
    "renewal": ("renewal_rate", *_SUBSCRIPTION_METRICS),
    "cancel": ("renewal_rate", *_SUBSCRIPTION_METRICS),
    "started": _SUBSCRIPTION_METRICS,
    "payment": _SUBSCRIPTION_METRICS,
}
# Stage features → the [stages.events] lists they count.
FEATURE_EVENTS: dict[str, tuple[str, ...]] = {
    "orders": ("purchase",),
    "renewals": ("renewal",),
    "cancels": ("cancel",),
    "cancelled": ("cancel", "purchase", "renewal"),
    "advocacy": ("advocacy",),
    "days_since_purchase": ("purchase", "renewal"),
    "days_since_order": ("purchase",),
    "days_since_first_purchase": ("purchase",),
    "days_since_advocacy": ("advocacy",),
    "days_since_activity": ("passive",),
    "subscribed": ("started", "payment", "renewal", "purchase", "cancel"),
}

NON_TRACK = ("page", "screen", "identify", "group", "alias")
NON_TRACK_FEEDS = {
    "identify": "identity and traits (identify calls)",
    "group": "accounts and memberships (group calls)",
    "alias": "identity (alias calls)",
}


def all_signals(settings: Settings) -> list[tuple[str, Signal]]:
    return [(model, s) for model, m in settings.models.items() for s in m.signals]


def event_lists(settings: Settings) -> dict[str, dict[str, list[str]]]:
    """Every list of track event names in the settings, by TOML table: table → {key: names}."""
    return {
        "stages.events": settings.stages.events.model_dump(),
        "stages.subscriptions": {
            "started": list(settings.stages.subscriptions.started),
            "payment": list(settings.stages.subscriptions.payment),
        },
        "metrics.events": settings.metrics.events.model_dump(),
        "audience": {"job_events": list(settings.audience.job_events)},
    }


def reader_lists(settings: Settings) -> dict[str, dict[str, list[str]]]:
    """The event names lifetime value, the contact policy and the loyalty programme read, by
    TOML table (read, never rewritten by ``check --write``): table → {key: names}."""
    policy, loyalty = settings.policy, settings.loyalty
    return {
        "predict": {"order_events": list(settings.predict.order_events)},
        "policy": {
            "opt_out_events": list(policy.opt_out_events),
            "opt_in_events": list(policy.opt_in_events),
            "consent_events": list(policy.consent_events),
            "sent_events": list(policy.sent_events),
        },
        "loyalty": {
            "earn": [
                name
                for rule in loyalty.earn
                for name in rule.counted(list(settings.stages.events.purchase))
            ],
            "redemption_event": [loyalty.redemption_event],
            "referral_event": [loyalty.referral_event],
            "signup_event": [loyalty.signup_event],
        },
    }


def table_content(settings: Settings, table: str) -> dict[str, Any]:
    """The whole of a table holding event lists, as it is now (to write it back changed)."""
    section = {
        "stages.events": settings.stages.events,
        "stages.subscriptions": settings.stages.subscriptions,
        "metrics.events": settings.metrics.events,
        "audience": settings.audience,
    }[table]
    return section.model_dump(exclude_defaults=table in ("audience", "stages.subscriptions"))


def signal_wants(signal: Signal) -> str:
    if signal.type == "track":
        what = " or ".join(signal.event)
    elif signal.event:
        what = f"{signal.type} calls named " + " or ".join(signal.event)
    else:
        what = f"{signal.type} calls"
    tests = [f"{k} = {plain(v)}" for k, v in signal.where.items()]
    if signal.path is not None:
        tests.append(f"path matching {signal.path}")
    if signal.channel is not None:
        tests.append(f"channel = {signal.channel}")
    return what + (" with " + " and ".join(tests) if tests else "")


def plain(value: Any) -> str:
    if isinstance(value, list):
        return " or ".join(map(str, value))
    return str(value)


LIST_KINDS = {
    "stages.events": "stage events",
    "stages.subscriptions": "subscription events",
    "metrics.events": "metric events",
    "audience": "audience events",
}


def _list_use(settings: Settings, table: str, key: str) -> str:
    """What reads the event list ``table.key``, in words."""
    if table == "audience":
        return "audience class job_seeker (not scored, courteous route)"
    if table == "metrics.events":
        return "metrics: " + (", ".join(METRICS_BY_EVENTS.get(key, ())) or "(docs/metrics.md)")
    uses = []
    if table == "stages.subscriptions":
        uses.append("subscriptions (status, plan, MRR; keep a subscriber a customer)")
    if key == "passive":
        uses.append("not counted as activity (days_since_activity, sessions, cohorts)")
    rules = _rules_using(settings, key)
    if rules:
        uses.append("stage rules: " + "; ".join(rules))
    if METRICS_BY_STAGE_EVENTS.get(key):
        uses.append("metrics: " + ", ".join(METRICS_BY_STAGE_EVENTS[key]))
    return "; ".join(uses) or "stage features"


def _rules_using(settings: Settings, key: str) -> list[str]:
    """Stage rules with a condition on a feature that the [stages.events] list ``key`` drives."""
    out = []
    for rule in settings.stages.rules:
        hits = [c for c in rule.when if key in FEATURE_EVENTS.get(_feature(c), ())]
        if hits:
            out.append(f"{rule.stage} ({' and '.join(hits)})")
    return out


def _feature(condition: str) -> str:
    return condition.split()[0] if condition.split() else ""


def list_concepts(
    settings: Settings,
    track: dict[str, int],
    signal_counts: list[int],
    keys: dict[str, list[tuple[str, int]]],
) -> list[Concept]:
    out: list[Concept] = []
    for (model, signal), count in zip(all_signals(settings), signal_counts, strict=True):
        out.append(
            Concept(
                kind="signal",
                name=f"{model}: {signal.name}",
                wants=signal_wants(signal),
                used_by=f"engagement of model {model}, {signal.points:g} point"
                + ("" if signal.points == 1 else "s"),
                events=count,
                names=list(signal.event) if signal.type == "track" else [],
            )
        )
    for table, lists in event_lists(settings).items():
        for key, names in lists.items():
            out.append(
                Concept(
                    kind=LIST_KINDS[table],
                    name=f"{table}.{key}",
                    wants=", ".join(names) or "(no events)",
                    used_by=_list_use(settings, table, key),
                    events=sum(track.get(n, 0) for n in names),
                    names=list(names),
                )
            )
    metric_lists = settings.metrics.events.model_dump()
    for name, path in settings.metrics.fields.model_dump().items():
        on_lists = FIELD_EVENTS.get(name, ())
        carriers = sorted({n for k in on_lists for n in metric_lists.get(k, [])})
        # Property keys are counted at the top level: a dotted path checks its first part.
        top = path.split(".")[0]
        having = sum(dict(keys.get(n, [])).get(top, 0) for n in carriers)
        metrics = sorted({m for k in on_lists for m in METRICS_BY_EVENTS.get(k, ())})
        on = " or ".join(carriers) or "(no event list)"
        out.append(
            Concept(
                kind="metric field",
                name=f"metrics.fields.{name}",
                wants=f"property {path} on {on}",
                used_by="metrics: " + (", ".join(metrics) or "(see docs/metrics.md)"),
                events=having,
                of=sum(track.get(n, 0) for n in carriers),
            )
        )
    return out
