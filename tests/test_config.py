"""Workspace settings: defaults, and errors that name the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientela.config import DEFAULT_TOML, Settings, load_settings, parse_settings
from clientela.errors import ConfigError, WorkspaceError
from clientela.workspace import init_workspace, open_workspace


def test_default_toml_is_the_defaults(tmp_path: Path) -> None:
    """The commented file `clientela init` writes parses to exactly the built-in defaults."""
    path = tmp_path / "clientela.toml"
    path.write_text(DEFAULT_TOML)
    assert load_settings(path) == Settings()


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"engine": {"kind": "postgres"}}, r"engine.kind' = 'postgres'.*'duckdb' or 'spark'"),
        ({"ingest": {"max_event_bytes": -1}}, r"ingest.max_event_bytes' = -1.*greater than 0"),
        ({"engine": {"kindd": "duckdb"}}, r"engine.kindd.*no such setting"),
        ({"identity": {"merge_identified_on_email": "maybe"}}, r"merge_identified_on_email"),
        ({"report": {"timezone": "Mars/Olympus"}}, r"report.timezone' = 'Mars/Olympus'.*IANA"),
    ],
)
def test_bad_settings_name_key_value_and_expectation(data: dict[str, object], pattern: str) -> None:
    """Each bad setting raises ConfigError with key, value and what is expected."""
    with pytest.raises(ConfigError, match=pattern):
        parse_settings(data)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    """A TOML syntax error names the file."""
    path = tmp_path / "clientela.toml"
    path.write_text("[engine\nkind=1")
    with pytest.raises(ConfigError, match=r"clientela\.toml"):
        load_settings(path)


def test_open_requires_a_workspace(tmp_path: Path) -> None:
    """Opening a folder that is not a workspace says how to create one."""
    with pytest.raises(WorkspaceError, match="clientela init"):
        open_workspace(tmp_path)
    ws = init_workspace(tmp_path / "new")
    assert (ws.root / "clientela.toml").exists() and ws.events_dir.is_dir()


# -- scoring models, audience and stage settings ---------------------------------------------


def test_presets_load_with_their_rules() -> None:
    """The shipped b2b and b2c models and both stage machines load and validate."""
    settings = Settings()
    b2b, b2c = settings.models["b2b"], settings.models["b2c"]
    assert any(r.trait.startswith("account.") for r in b2b.fit)  # firmographics
    assert {"age", "income"} <= {t for r in b2c.fit for _, t in r.alternatives}  # demographics
    # Seed 001: personal interactions outweigh webinars, which outweigh clicks and page views.
    points = {s.name: s.points for s in b2b.signals}
    assert points["meeting held"] > points["webinar attended"] > points["email click"]
    assert points["webinar attended"] > points["page view"]
    journey = parse_settings({"stages": {"preset": "journey"}}).stages
    assert [s.name for s in journey.stages][:5] == [
        "reach",
        "acquisition",
        "conversion",
        "retention",
        "loyalty",
    ]
    assert [s.name for s in settings.stages.stages] == [
        "stranger",
        "prospect",
        "customer",
        "fan",
        "dormant",
        "churned",
    ]


def test_init_preset_writes_the_model_out_in_full(tmp_path: Path) -> None:
    """`init --preset b2b` writes every rule and signal; they equal the shipped preset's."""
    ws = init_workspace(tmp_path / "ws", preset="b2b")
    text = (ws.root / "clientela.toml").read_text()
    assert "[[models.main.signals]]" in text
    main = ws.settings.models["main"]
    shipped = Settings().models["b2b"]
    assert main.fit == shipped.fit
    assert main.signals == shipped.signals
    assert main.applies_to == "all"


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (
            {
                "models": {
                    "m": {"fit": [{"name": "x", "trait": "age", "op": "between", "points": 1}]}
                }
            },
            r"models.m.fit.0.op' = 'between'.*'equals', 'in', 'range'",
        ),
        (
            {"models": {"m": {"fit": [{"name": "x", "trait": "age", "op": "range", "points": 1}]}}},
            r"rule 'x' with op 'range' needs 'min' and/or 'max'",
        ),
        (
            {
                "models": {
                    "m": {"fit": [{"name": "x", "trait": "t", "op": "regex", "pattern": "(("}]}
                }
            },
            r"models.m.fit.0",
        ),
        (
            {"models": {"m": {"signals": [{"name": "s", "event": "E", "points": 1}]}}},
            r"models.m.signals.0.half_life_days",
        ),
        (
            {
                "models": {
                    "m": {
                        "signals": [{"name": "s", "event": "E", "points": 1, "half_life_days": 0}]
                    }
                }
            },
            r"half_life_days' = 0.*greater than 0",
        ),
        (
            {"models": {"m": {"signals": [{"name": "s", "points": 1, "half_life_days": 9}]}}},
            r"signal 's' is a track signal and needs 'event'",
        ),
        ({"models": {"m": {"preset": "b2x"}}}, r"models.m.preset' = 'b2x'.*'b2b' or 'b2c'"),
        ({"models": {"m": {}}}, r"at least one fit rule or signal"),
        ({"models": {}}, r"at least one scoring model"),
        (
            {"models": {"m": {"preset": "b2b", "fit_cutoffs": {"A": 10, "B": 40, "C": 5}}}},
            r"cut-offs with A > B > C",
        ),
        ({"audience": {"policy": {"robot": "exclude"}}}, r"keys among bot, employee"),
        ({"audience": {"policy": {"bot": "ignore"}}}, r"audience.policy.bot' = 'ignore'"),
        ({"scoring": {"primary": ["nope"]}}, r"scoring.primary names models among b2b, b2c"),
    ],
)
def test_bad_scoring_settings_are_named(data: dict[str, object], pattern: str) -> None:
    """Each wrong scoring setting gives a ConfigError naming the key and what is expected."""
    with pytest.raises(ConfigError, match=pattern):
        parse_settings(data)


def test_metric_stage_roles_come_from_the_preset_or_must_be_set() -> None:
    """Preset stages give the metrics their funnel; own stages need metrics.stages, and a
    role naming an unknown stage is a config error naming the key."""
    from clientela.errors import ClientelaError

    assert parse_settings({}).stage_roles()["customers"] == ["customer", "fan"]
    journey = parse_settings({"stages": {"preset": "journey"}})
    assert journey.stage_roles()["lead"] == "acquisition"
    own = {
        "stages": {
            "stages": [{"name": "visitor"}, {"name": "buyer"}],
            "rules": [{"stage": "buyer", "when": ["orders >= 1"]}, {"stage": "visitor"}],
        }
    }
    with pytest.raises(ClientelaError, match=r"metrics\.stages\.funnel, metrics\.stages\.lead"):
        parse_settings(own).stage_roles()
    own["metrics"] = {
        "stages": {"funnel": ["visitor", "buyer"], "lead": "visitor", "customers": ["buyer"]}
    }
    assert parse_settings(own).stage_roles()["churned"] == []
    own["metrics"]["stages"]["customers"] = ["vip"]
    with pytest.raises(ConfigError, match=r"metrics\.stages\.customers naming stages among"):
        parse_settings(own)
