"""Settings of the activation parts: ``[segments.NAME]``, ``[playbook]``, ``[policy]``,
``[loyalty]`` and ``[destinations.NAME]`` in ``clientela.toml``. Each part owns its section
below; :func:`property_keys` tells the job which event properties they read."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clientela.activation.conditions import (
    FACT_KINDS,
    Condition,
    Conditions,
    MembershipCondition,
)
from clientela.activation.conditions import property_keys as condition_property_keys


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def property_keys(self) -> list[str]:
        """Event properties this part reads (pulled out of the JSON once, when events are
        narrowed: see :func:`clientela.scoring.events.narrow`)."""
        return []


# ---------------------------------------------------------------------------------------------
# Segments (activation/segments.py)
# ---------------------------------------------------------------------------------------------


class SegmentDefinition(_Section, Conditions):
    """A saved definition of contacts (``[segments.NAME]``): a description and its
    conditions (``all``, ``any``, ``not``; all of those given must hold). See
    :mod:`clientela.activation.conditions` for the language."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    description: str = ""

    @model_validator(mode="after")
    def _some_condition(self) -> SegmentDefinition:
        if not self.parts():
            raise ValueError("at least one of all, any or not (the segment's conditions)")
        return self

    def property_keys(self) -> list[str]:
        return condition_property_keys(self.parts())


# ---------------------------------------------------------------------------------------------
# Playbook (activation/playbook.py)
# ---------------------------------------------------------------------------------------------


Purpose = Literal["transactional", "service", "sales", "marketing", "courtesy"]
"""Why an action goes out: the policy treats each differently (transactional is never capped,
marketing never reaches a non-buyer)."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class PlaybookRule(_Section, Conditions):
    """One rule of the playbook: when its conditions hold (``all``/``any``/``not`` and/or
    ``segment``), propose ``action`` on ``channel``. Priority 1 is the most urgent; a contact
    gets the action of the most urgent rule that matches (ties: the first listed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: str = Field(min_length=1)
    channel: str = "email"
    purpose: Purpose
    priority: int = Field(ge=1)
    reason: str = Field(min_length=1)
    """Text shown with the action; ``{fact}`` is replaced by the contact's value of that fact
    (numbers rounded to 2 decimals, ``?`` when missing)."""
    segment: str | None = None
    """Only members of this segment."""
    products: Literal["cross_sell", "up_sell", "any"] | None = None
    """Attach the contact's recommendations of this kind (and only propose the action to
    contacts that have at least one)."""
    description: str = ""

    @model_validator(mode="after")
    def _valid(self) -> PlaybookRule:
        if not self.parts() and self.segment is None:
            raise ValueError(
                f"rule {self.action!r}: a condition (all, any, not) or a segment to match"
            )
        for name in _PLACEHOLDER.findall(self.reason):
            if name not in FACT_KINDS:
                raise ValueError(
                    f"rule {self.action!r}: reason placeholder {{{name}}} is not a fact "
                    f"(one of {', '.join(FACT_KINDS)})"
                )
        return self

    def conditions(self) -> list[Condition]:
        """Every condition of the rule, its segment included."""
        out = self.parts()
        if self.segment is not None:
            out.append(MembershipCondition(segment=self.segment))
        return out


PLAYBOOK_PRESETS = ("seeds",)
"""Shipped playbooks (``src/clientela/presets/playbook-NAME.toml``)."""


class PlaybookSettings(_Section):
    """The next-best-action playbook (``[playbook]``): ``rules`` (``[[playbook.rules]]``), or
    when there are none the shipped ``preset`` (``seeds``: the initiatives of seeds 000, 001,
    002 and 004); ``preset = "none"`` with no rules turns the playbook off."""

    preset: Literal["seeds", "none"] = "seeds"
    rules: list[PlaybookRule] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("rules"):
            name = data.get("preset", "seeds")
            if name in PLAYBOOK_PRESETS:
                text = resources.files("clientela").joinpath(f"presets/playbook-{name}.toml")
                merged = tomllib.loads(text.read_text("utf-8"))
                merged.update({k: v for k, v in data.items() if k != "rules"})
                merged["preset"] = name
                return merged
        return data

    @model_validator(mode="after")
    def _unique(self) -> PlaybookSettings:
        names = [r.action for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"unique rule actions (repeated: {', '.join(dup)})")
        return self

    def ordered(self) -> list[PlaybookRule]:
        """The rules from the most urgent (priority 1) on; ties keep their order."""
        return sorted(self.rules, key=lambda r: r.priority)

    def property_keys(self) -> list[str]:
        return condition_property_keys([c for r in self.rules for c in r.conditions()])


# ---------------------------------------------------------------------------------------------
# Policy (activation/policy.py)
# ---------------------------------------------------------------------------------------------


class PolicySettings(_Section):
    """The contact policy (``[policy]``): consent, do-not-contact, caps, quiet hours."""


# ---------------------------------------------------------------------------------------------
# Loyalty (activation/loyalty.py)
# ---------------------------------------------------------------------------------------------


class LoyaltySettings(_Section):
    """The loyalty and referral programmes (``[loyalty]``)."""


# ---------------------------------------------------------------------------------------------
# Destinations (activation/destinations/)
# ---------------------------------------------------------------------------------------------


class DestinationSettings(_Section):
    """Where actions and segment changes go (``[destinations.NAME]``)."""


# ---------------------------------------------------------------------------------------------


def property_keys(
    segments: dict[str, SegmentDefinition],
    playbook: PlaybookSettings,
    policy: PolicySettings,
    loyalty: LoyaltySettings,
) -> list[str]:
    """Every event property the activation parts read, each once."""
    keys: list[str] = []
    for part in [*segments.values(), playbook, policy, loyalty]:
        keys.extend(k for k in part.property_keys() if k not in keys)
    return keys
