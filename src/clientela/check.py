"""The tracking plan check (``clientela check``): do the landed events feed the settings?

Every *concept* the settings read from events is listed with how many landed events it gets:

* each scoring signal of each model (counted with the scoring's own filter, ``where``
  tests, page paths and channels included);
* each ``[stages.events]`` list, with the stage rules whose features it drives;
* each ``[metrics.events]`` list and each ``[metrics.fields]`` property, with the metrics
  that read them;
* playbook inputs: there is no playbook yet, so there is nothing to check (said so).

Every event name seen is listed the other way round: its count, the concepts it feeds and,
for the most frequent names, its property keys. A track event name that feeds no concept
counts only as generic activity; the check looks for the concept it most likely means (close
names after light stemming and a few domain synonyms: *answered* ~ *replied*) and writes the
``clientela.toml`` sections that map it.

The counts come from two queries over the landed events: one GROUP BY (type, event name)
that also sums every signal's filter, and one GROUP BY (event name, property key) over the
most frequent and the unused names. Both are Ibis (and the engine's JSON explode), so the
check runs on DuckDB and Spark alike.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import ibis
from ibis import _

from clientela.config import ModelSettings, Settings, Signal
from clientela.engine import Engine, connect
from clientela.scoring.engagement import signal_filter
from clientela.scoring.events import narrow
from clientela.workspace import Workspace

TOP_NAMES = 15
"""Property keys are listed for this many of the most frequent track event names."""
TOP_KEYS = 8
"""Property keys shown per event name."""
MATCH_CUTOFF = 0.75
"""How close (0-1) an unused name must be to a concept to be suggested."""

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
# Words that mean the same in event names (after stemming), mapped to one.
SYNONYMS: dict[str, str] = {
    "answer": "reply",
    "respond": "reply",
    "response": "reply",
    "buy": "purchase",
    "order": "purchase",
    "register": "signup",
    "subscribe": "signup",
    "login": "log",
    "signin": "log",
    "open": "view",
    "view": "view",
    "cancellation": "cancel",
    "refer": "referral",
    "rate": "review",
    "rating": "review",
}
NON_TRACK = ("page", "screen", "identify", "group", "alias")
NON_TRACK_FEEDS = {
    "identify": "identity and traits (identify calls)",
    "group": "accounts and memberships (group calls)",
    "alias": "identity (alias calls)",
}


@dataclass
class Concept:
    """Something the settings read from events, and how many landed events it gets."""

    kind: str
    """signal, stage events, metric events, metric field"""
    name: str
    """``b2b: demo request``, ``stages.events.purchase``, ``metrics.fields.rating``"""
    wants: str
    """what it reads, in words: ``Form Submitted with form_id = demo-request``"""
    used_by: str
    events: int
    """landed events it gets (for a field: events of its lists that carry the property)"""
    of: int | None = None
    """for a field: events of its lists (the ones that should carry it)"""
    names: list[str] = field(default_factory=list)
    """the track event names it reads"""

    @property
    def has_data(self) -> bool:
        return self.events > 0


@dataclass
class Suggestion:
    """A concept an unused event name may mean, and the settings that map it."""

    concept: str
    why: str
    score: float
    section: str
    """the TOML table to replace (or add), e.g. ``models.b2b`` or ``metrics.events``"""


@dataclass
class EventName:
    """One event name seen (track events by name; other calls by type)."""

    type: str
    name: str
    events: int
    feeds: list[str]
    properties: list[tuple[str, int]] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return bool(self.feeds)


@dataclass
class TomlSection:
    """A complete ``clientela.toml`` table that maps unused names."""

    table: str
    text: str
    replaces: bool
    """True: the workspace's file already has this table; replace it (and its sub-tables)."""
    maps: list[str]
    """the event names it maps"""


@dataclass
class TrackingPlan:
    """The result of :func:`check`."""

    events: int
    concepts: list[Concept]
    names: list[EventName]
    toml: list[TomlSection]
    playbook: str = "no playbook exists yet: no playbook inputs to check"

    @property
    def unused(self) -> list[EventName]:
        return [n for n in self.names if not n.used]

    @property
    def without_data(self) -> list[Concept]:
        return [c for c in self.concepts if not c.has_data]

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (``clientela check --format json``)."""
        return {
            "events": self.events,
            "concepts": [asdict(c) | {"has_data": c.has_data} for c in self.concepts],
            "names": [asdict(n) | {"used": n.used} for n in self.names],
            "unused": [n.name for n in self.unused],
            "toml": [asdict(t) for t in self.toml],
            "playbook": self.playbook,
        }


# --- counting ------------------------------------------------------------------------------


def _all_signals(settings: Settings) -> list[tuple[str, Signal]]:
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


def _table_content(settings: Settings, table: str) -> dict[str, Any]:
    """The whole of a table holding event lists, as it is now (to write it back changed)."""
    section = {
        "stages.events": settings.stages.events,
        "stages.subscriptions": settings.stages.subscriptions,
        "metrics.events": settings.metrics.events,
        "audience": settings.audience,
    }[table]
    return section.model_dump(exclude_defaults=table in ("audience", "stages.subscriptions"))


def _name_counts(
    engine: Engine, settings: Settings, with_signals: bool
) -> tuple[list[dict[str, Any]], int]:
    """One GROUP BY over the landed events: (type, name, events[, s0, s1, ...]) rows, where
    ``s<i>`` counts the events of the group that signal ``i`` of :func:`_all_signals` takes."""
    events = engine.landed("events")
    if with_signals:
        events = narrow(engine, settings, events)
    signals = _all_signals(settings) if with_signals else []
    keyed = events.mutate(
        _name=ibis.ifelse(_.type == "track", _.event.fill_null("(no name)"), _.type)
    )
    sums = {
        f"s{i}": signal_filter(keyed, s).fill_null(False).cast("int64").sum()
        for i, (_m, s) in enumerate(signals)
    }
    rows = engine.to_arrow(
        keyed.group_by(type=_.type, name=_._name).aggregate(events=_.count(), **sums)
    ).to_pylist()
    rows.sort(key=lambda r: (-r["events"], r["type"], r["name"]))
    return rows, len(signals)


def _property_keys(engine: Engine, names: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Property keys of the track events with these names: name → [(key, events)], most
    frequent first (one GROUP BY over the exploded properties)."""
    if not names:
        return {}
    events = engine.landed("events")
    picked = events.filter((_.type == "track") & _.event.isin(names)).select("event", "properties")
    entries = engine.json_entries(picked, "properties", ["event"])
    rows = engine.to_arrow(
        entries.group_by(["event", "key"]).aggregate(events=ibis._.count())
    ).to_pylist()
    out: dict[str, list[tuple[str, int]]] = {}
    for r in sorted(rows, key=lambda r: (r["event"], -r["events"], r["key"])):
        out.setdefault(r["event"], []).append((r["key"], r["events"]))
    return out


# --- what the settings read ----------------------------------------------------------------


def _signal_wants(signal: Signal) -> str:
    if signal.type == "track":
        what = " or ".join(signal.event)
    elif signal.event:
        what = f"{signal.type} calls named " + " or ".join(signal.event)
    else:
        what = f"{signal.type} calls"
    tests = [f"{k} = {_plain(v)}" for k, v in signal.where.items()]
    if signal.path is not None:
        tests.append(f"path matching {signal.path}")
    if signal.channel is not None:
        tests.append(f"channel = {signal.channel}")
    return what + (" with " + " and ".join(tests) if tests else "")


def _plain(value: Any) -> str:
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


def _concepts(
    settings: Settings,
    track: dict[str, int],
    signal_counts: list[int],
    keys: dict[str, list[tuple[str, int]]],
) -> list[Concept]:
    out: list[Concept] = []
    for (model, signal), count in zip(_all_signals(settings), signal_counts, strict=True):
        out.append(
            Concept(
                kind="signal",
                name=f"{model}: {signal.name}",
                wants=_signal_wants(signal),
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


# --- close matches -------------------------------------------------------------------------


def _stem(word: str) -> str:
    if word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    return SYNONYMS.get(word, word)


def words(text: str) -> list[str]:
    """The words of an event or concept name, lower-cased, stemmed and with synonyms
    folded (``Ticket Answered`` → ``ticket reply``)."""
    split = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return [_stem(w) for w in re.split(r"[^a-z0-9]+", split.lower()) if w]


def similarity(a: str, b: str) -> float:
    """How close two names are (0-1): the better of difflib's ratio on the folded words and
    the share of words they have in common."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    ratio = difflib.SequenceMatcher(None, " ".join(wa), " ".join(wb)).ratio()
    common = len(set(wa) & set(wb)) / len(set(wa) | set(wb))
    return max(ratio, common)


@dataclass(frozen=True)
class _Target:
    """Something an unused name could be mapped to, and how."""

    label: str
    candidates: tuple[str, ...]
    """texts the unused name is compared with"""
    action: str
    """'alias' (add the name wherever ``event`` is read), 'signal' (a signal like this one),
    'list' (add to a [stages.events] / [metrics.events] list)"""
    order: int
    event: str = ""
    models: tuple[str, ...] = ()
    signal: str = ""
    table: str = ""
    key: str = ""


def _targets(settings: Settings) -> list[_Target]:
    out: list[_Target] = []
    known: dict[str, list[str]] = {}
    for model, signal in _all_signals(settings):
        if signal.type == "track":
            for name in signal.event:
                known.setdefault(name, []).append(f"signal {model}: {signal.name}")
    for table, lists in event_lists(settings).items():
        for key, names in lists.items():
            for name in names:
                known.setdefault(name, []).append(f"{table}.{key}")
    for name, where in sorted(known.items()):
        label = f"`{name}` (" + ", ".join(dict.fromkeys(where)) + ")"
        out.append(_Target(label, (name,), "alias", 0, event=name))
    # A signal name in several models is one concept: mapping it maps it in each.
    by_name: dict[str, list[tuple[str, Signal]]] = {}
    for model, signal in _all_signals(settings):
        by_name.setdefault(signal.name, []).append((model, signal))
    for name, pairs in by_name.items():
        signal = pairs[0][1]
        texts = [name, *(_plain(v) for v in signal.where.values())]
        models = tuple(m for m, _s in pairs)
        label = f"the signal `{name}` ({_signal_wants(signal)}; model {', '.join(models)})"
        out.append(_Target(label, tuple(texts), "signal", 1, models=models, signal=name))
    for table, lists in event_lists(settings).items():
        for key in lists:
            label = f"`{table}.{key}`"
            out.append(_Target(label, (key,), "list", 2, table=table, key=key))
    return out


def _best_targets(name: str, targets: list[_Target]) -> list[tuple[float, _Target]]:
    scored = []
    for target in targets:
        score = max(similarity(name, c) for c in target.candidates)
        if score >= MATCH_CUTOFF:
            scored.append((round(score, 3), target))
    scored.sort(key=lambda st: (-st[0], st[1].order, st[1].label))
    return scored


# --- the TOML that maps unused names -------------------------------------------------------


def _signal_dict(signal: Signal) -> dict[str, Any]:
    return signal.model_dump(exclude_defaults=True)


def _mapped_settings(
    settings: Settings, chosen: list[tuple[str, _Target]]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The changed tables (``models.b2b``, ``metrics.events``, ...) as dicts of their new
    content, and the event names each maps."""
    models = {m: [_signal_dict(s) for s in ms.signals] for m, ms in settings.models.items()}
    lists = event_lists(settings)
    content = {table: _table_content(settings, table) for table in lists}
    changed: dict[str, list[str]] = {}

    def add_to_list(table: str, key: str, name: str) -> None:
        if name not in lists[table][key]:
            lists[table][key] = [*lists[table][key], name]
            content[table][key] = lists[table][key]
            changed.setdefault(table, []).append(name)

    for name, target in chosen:
        if target.action == "alias":
            for model, signals in models.items():
                for s in signals:
                    events = s.get("event", [])
                    if target.event in events and s.get("type", "track") == "track":
                        s["event"] = [*events, name]
                        changed.setdefault(f"models.{model}", []).append(name)
            for table, by_key in lists.items():
                for key, names in list(by_key.items()):
                    if target.event in names:
                        add_to_list(table, key, name)
        elif target.action == "signal":
            for model in target.models:
                _map_to_signal(models[model], target.signal, name)
                changed.setdefault(f"models.{model}", []).append(name)
        else:
            add_to_list(target.table, target.key, name)
    tables: dict[str, dict[str, Any]] = {}
    for table in changed:
        if table.startswith("models."):
            tables[table] = {"signals": models[table.removeprefix("models.")]}
        else:
            tables[table] = content[table]
    return tables, {t: list(dict.fromkeys(n)) for t, n in changed.items()}


def _map_to_signal(signals: list[dict[str, Any]], signal: str, name: str) -> None:
    """Make the track event ``name`` count as ``signal``: one more event name of a plain
    track signal, or a copy (same points, decay and caps) for a signal with tests."""
    original = next(s for s in signals if s["name"] == signal)
    tested = {"where", "path", "channel"} & original.keys()
    if original.get("type", "track") == "track" and not tested:
        original["event"] = [*original.get("event", []), name]
        return
    copy = {k: v for k, v in original.items() if k not in ("type", "where", "path", "channel")}
    signals.append({**copy, "name": f"{signal} ({name})", "event": [name]})


def _toml_sections(
    settings: Settings, raw: dict[str, Any], chosen: list[tuple[str, _Target]]
) -> list[TomlSection]:
    tables, maps = _mapped_settings(settings, chosen)
    out: list[TomlSection] = []
    raw_models = raw.get("models")
    for table, content in tables.items():
        parts = table.split(".")
        existing = _lookup(raw, parts)
        body: dict[str, Any]
        if table.startswith("models."):
            model = settings.models[parts[1]]
            base = dict(existing) if isinstance(existing, dict) else _model_base(model)
            body = {**base, "signals": content["signals"]}
        else:
            body = content
        out.append(
            TomlSection(
                table=table,
                text=toml_table(table, body),
                replaces=existing is not None,
                maps=maps[table],
            )
        )
    if raw_models is None and any(t.startswith("models.") for t in tables):
        # Writing one [models.X] table replaces the default models: write the others too.
        for name, model in settings.models.items():
            if f"models.{name}" not in tables:
                out.append(
                    TomlSection(
                        table=f"models.{name}",
                        text=toml_table(f"models.{name}", _model_base(model)),
                        replaces=False,
                        maps=[],
                    )
                )
    return out


def _model_base(model: ModelSettings) -> dict[str, Any]:
    if model.preset is not None:
        return {"preset": model.preset, "applies_to": model.applies_to}
    return model.model_dump(exclude_defaults=True, by_alias=True, exclude={"signals"})


def _lookup(data: dict[str, Any], parts: list[str]) -> Any:
    node: Any = data
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def toml_table(table: str, body: dict[str, Any]) -> str:
    """``body`` written as the TOML table ``[table]``: plain keys first, then sub-tables,
    then arrays of tables (``[[table.signals]]``)."""
    plain = {k: v for k, v in body.items() if not _is_table(v) and not _is_table_list(v)}
    subs = {k: v for k, v in body.items() if _is_table(v)}
    arrays = {k: v for k, v in body.items() if _is_table_list(v)}
    lines = [f"[{table}]", *(f"{_key(k)} = {_value(v)}" for k, v in plain.items())]
    for k, v in subs.items():
        lines += ["", toml_table(f"{table}.{_key(k)}", v).rstrip("\n")]
    for k, items in arrays.items():
        for item in items:
            lines += ["", f"[[{table}.{_key(k)}]]"]
            lines += [f"{_key(ik)} = {_value(iv)}" for ik, iv in item.items()]
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    # A dict of plain values stays inline (a signal's `where`); one holding tables does not.
    return isinstance(value, dict) and any(
        _is_table(v) or _is_table_list(v) for v in value.values()
    )


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


# --- the check -----------------------------------------------------------------------------


def check(engine: Engine, workspace: Workspace) -> TrackingPlan:
    """Check the landed events against the workspace's settings (see the module docstring)."""
    settings = workspace.settings
    rows, n_signals = _name_counts(engine, settings, with_signals=True)
    signal_counts = [sum(r[f"s{i}"] for r in rows) for i in range(n_signals)]
    track = {r["name"]: r["events"] for r in rows if r["type"] == "track"}
    feeds = _feeds(settings, rows, n_signals)
    unused = [r["name"] for r in rows if r["type"] == "track" and not feeds[(r["type"], r["name"])]]
    field_names = {
        n
        for lists in FIELD_EVENTS.values()
        for k in lists
        for n in settings.metrics.events.model_dump().get(k, [])
        if n in track
    }
    top = [r["name"] for r in rows if r["type"] == "track"][:TOP_NAMES]
    keys = _property_keys(engine, sorted({*top, *unused, *field_names}))
    concepts = _concepts(settings, track, signal_counts, keys)
    targets = _targets(settings)
    names: list[EventName] = []
    chosen: list[tuple[str, _Target]] = []
    for r in rows:
        entry = EventName(
            type=r["type"],
            name=r["name"],
            events=r["events"],
            feeds=feeds[(r["type"], r["name"])],
            properties=keys.get(r["name"], [])[:TOP_KEYS] if r["type"] == "track" else [],
        )
        if r["type"] == "track" and not entry.used:
            best = _best_targets(r["name"], targets)[:3]
            entry.suggestions = [
                Suggestion(
                    concept=t.label,
                    why=f"names {score:.0%} alike",
                    score=score,
                    section=", ".join(f"models.{m}" for m in t.models) or t.table,
                )
                for score, t in best
            ]
            if best:
                chosen.append((r["name"], best[0][1]))
        names.append(entry)
    sections = _toml_sections(settings, _raw_settings(workspace), chosen)
    for entry in names:
        for s in entry.suggestions[:1]:
            s.section = ", ".join(t.table for t in sections if entry.name in t.maps)
    total = sum(r["events"] for r in rows)
    return TrackingPlan(events=total, concepts=concepts, names=names, toml=sections)


def _raw_settings(workspace: Workspace) -> dict[str, Any]:
    path = workspace.root / "clientela.toml"
    if not path.exists():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _feeds(
    settings: Settings, rows: list[dict[str, Any]], n_signals: int
) -> dict[tuple[str, str], list[str]]:
    """(type, name) → the concepts its events feed (a signal only when some of its events
    pass the signal's tests)."""
    signals = _all_signals(settings)
    lists = event_lists(settings)
    out: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        fed = []
        for i, (model, s) in enumerate(signals[:n_signals]):
            if r[f"s{i}"] > 0:
                fed.append(f"signal {model}: {s.name}")
            elif r["type"] == "track" and s.type == "track" and r["name"] in s.event:
                fed.append(f"signal {model}: {s.name} (none pass: {_signal_wants(s)})")
        if r["type"] == "track":
            fed += [
                f"{table}.{key}"
                for table, by_key in lists.items()
                for key, names in by_key.items()
                if r["name"] in names
            ]
        elif r["type"] in NON_TRACK_FEEDS:
            fed.append(NON_TRACK_FEEDS[r["type"]])
        out[(r["type"], r["name"])] = fed
    return out


def _used_names(settings: Settings) -> set[str]:
    """Every track event name some concept reads (by name; ``where`` tests aside)."""
    used: set[str] = set()
    for _model, signal in _all_signals(settings):
        if signal.type == "track":
            used.update(signal.event)
    for lists in event_lists(settings).values():
        for names in lists.values():
            used.update(names)
    return used


def unused_event_names(engine: Engine, settings: Settings) -> list[tuple[str, int]]:
    """Track event names no signal, stage list or metric list reads, with their counts, most
    frequent first (one GROUP BY over the landed events)."""
    rows, _n = _name_counts(engine, settings, with_signals=False)
    used = _used_names(settings)
    return [
        (r["name"], r["events"]) for r in rows if r["type"] == "track" and r["name"] not in used
    ]


def tracking_summary(workspace: Workspace, shown: int = 3) -> str | None:
    """One line for the end of ``import`` / ``ingest``: the event names that feed nothing
    (``2 event names feed nothing: Demo Requested (412), Email Clicked (96); run `clientela
    check```), or None when every name feeds something."""
    # Embedded and in memory whatever the workspace's engine: the landed Parquet is all it
    # reads, so it starts no Spark session and takes no lock a running job holds.
    engine = connect(workspace, "duckdb", reader=True)
    try:
        unused = unused_event_names(engine, workspace.settings)
    finally:
        engine.close()
    if not unused:
        return None
    listed = ", ".join(f"{name} ({count:,})" for name, count in unused[:shown])
    more = f", and {len(unused) - shown} more" if len(unused) > shown else ""
    noun = "event name feeds" if len(unused) == 1 else "event names feed"
    return f"{len(unused)} {noun} nothing: {listed}{more}; run `clientela check`"
