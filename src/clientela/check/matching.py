"""Close matches: which concept an unused event name most likely means (light stemming,
domain synonyms, string similarity)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from clientela.check.reads import all_signals, event_lists, plain, signal_wants
from clientela.config import Settings, Signal

MATCH_CUTOFF = 0.75
"""How close (0-1) an unused name must be to a concept to be suggested."""

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
class Target:
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


def find_targets(settings: Settings) -> list[Target]:
    out: list[Target] = []
    known: dict[str, list[str]] = {}
    for model, signal in all_signals(settings):
        if signal.type == "track":
            for name in signal.event:
                known.setdefault(name, []).append(f"signal {model}: {signal.name}")
    for table, lists in event_lists(settings).items():
        for key, names in lists.items():
            for name in names:
                known.setdefault(name, []).append(f"{table}.{key}")
    for name, where in sorted(known.items()):
        label = f"`{name}` (" + ", ".join(dict.fromkeys(where)) + ")"
        out.append(Target(label, (name,), "alias", 0, event=name))
    # A signal name in several models is one concept: mapping it maps it in each.
    by_name: dict[str, list[tuple[str, Signal]]] = {}
    for model, signal in all_signals(settings):
        by_name.setdefault(signal.name, []).append((model, signal))
    for name, pairs in by_name.items():
        signal = pairs[0][1]
        texts = [name, *(plain(v) for v in signal.where.values())]
        models = tuple(m for m, _s in pairs)
        label = f"the signal `{name}` ({signal_wants(signal)}; model {', '.join(models)})"
        out.append(Target(label, tuple(texts), "signal", 1, models=models, signal=name))
    for table, lists in event_lists(settings).items():
        for key in lists:
            label = f"`{table}.{key}`"
            out.append(Target(label, (key,), "list", 2, table=table, key=key))
    return out


def best_targets(name: str, targets: list[Target]) -> list[tuple[float, Target]]:
    scored = []
    for target in targets:
        score = max(similarity(name, c) for c in target.candidates)
        if score >= MATCH_CUTOFF:
            scored.append((round(score, 3), target))
    scored.sort(key=lambda st: (-st[0], st[1].order, st[1].label))
    return scored
