"""The ``clientela.toml`` sections that map unused event names to the concepts they mean."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from clientela.check.matching import Target
from clientela.check.reads import event_lists, table_content
from clientela.check.results import TomlSection
from clientela.config import ModelSettings, Settings, Signal


def _signal_dict(signal: Signal) -> dict[str, Any]:
    return signal.model_dump(exclude_defaults=True)


def _mapped_settings(
    settings: Settings, chosen: list[tuple[str, Target]]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The changed tables (``models.b2b``, ``metrics.events``, ...) as dicts of their new
    content, and the event names each maps."""
    models = {m: [_signal_dict(s) for s in ms.signals] for m, ms in settings.models.items()}
    lists = event_lists(settings)
    content = {table: table_content(settings, table) for table in lists}
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


def toml_sections(
    settings: Settings, raw: dict[str, Any], chosen: list[tuple[str, Target]]
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
