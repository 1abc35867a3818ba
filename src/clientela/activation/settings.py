"""Settings of the activation parts: ``[segments.NAME]``, ``[playbook]``, ``[policy]``,
``[loyalty]`` and ``[destinations.NAME]`` in ``clientela.toml``. Each part owns its section
below; :func:`property_keys` tells the job which event properties they read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def property_keys(self) -> list[str]:
        """Event properties this part reads (pulled out of the JSON once, when events are
        narrowed: see :func:`clientela.scoring.events.narrow`)."""
        return []


# ---------------------------------------------------------------------------------------------
# Segments (activation/segments.py)
# ---------------------------------------------------------------------------------------------


class SegmentDefinition(_Section):
    """A saved definition of contacts (``[segments.NAME]``)."""

    description: str = ""


# ---------------------------------------------------------------------------------------------
# Playbook (activation/playbook.py)
# ---------------------------------------------------------------------------------------------


class PlaybookSettings(_Section):
    """The next-best-action playbook (``[playbook]``)."""


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
