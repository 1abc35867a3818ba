"""Tests for the Northwind Loom demo-world generator."""

from __future__ import annotations

import csv
import gzip
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from clientela.datasets.demo import (
    ACCOUNTS_HEADER,
    AUDIENCE_CLASSES,
    BAD_RECORD_KINDS,
    COMPETITOR_DOMAINS,
    CONTACTS_HEADER,
    OWN_DOMAINS,
    TRUTH_HEADER,
    DemoSpec,
    DemoSummary,
    _broken_line,
    generate,
    generate_shard,
    write_reference_files,
)

SPEC = DemoSpec(contacts=300, seed=7)
CALL_TYPES = {"identify", "track", "page", "screen", "group", "alias"}
MAX_EVENT_BYTES = 32 * 1024


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return None


def _event_time(msg: dict[str, Any]) -> datetime | None:
    """True event time: timestamp, or receivedAt - (sentAt - originalTimestamp) when skewed."""
    if "timestamp" in msg:
        return _parse_ts(msg["timestamp"])
    original = _parse_ts(msg.get("originalTimestamp"))
    sent = _parse_ts(msg.get("sentAt"))
    received = _parse_ts(msg.get("receivedAt"))
    if original is None or sent is None or received is None:
        return None
    return received - (sent - original)


def _problem(msg: Any) -> str | None:
    """Why a single message is broken, or None when it is a valid Segment message."""
    if not isinstance(msg, dict):
        return "not an object"
    if msg.get("type") not in CALL_TYPES:
        return "unknown type"
    if not msg.get("userId") and not msg.get("anonymousId"):
        return "no id"
    if msg.get("userId") == "undefined":
        return "placeholder id"
    if msg["type"] == "track" and not msg.get("event"):
        return "track without event"
    if "properties" in msg and not isinstance(msg["properties"], dict):
        return "properties not an object"
    if _event_time(msg) is None:
        return "bad timestamp"
    if not isinstance(msg.get("context"), dict):
        return "no context"
    return None


def _lines(out: Path) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted((out / "events").iterdir()):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            lines.extend(line.rstrip(b"\n") for line in fh)
    return lines


def _messages(out: Path) -> tuple[list[dict[str, Any]], int]:
    """Valid messages (batch items flattened, with batch context merged) and the broken count."""
    good: list[dict[str, Any]] = []
    broken = 0
    for line in _lines(out):
        if len(line) > MAX_EVENT_BYTES:
            broken += 1
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            broken += 1
            continue
        if isinstance(obj, dict) and isinstance(obj.get("batch"), list):
            for item in obj["batch"]:
                item["context"] = {**obj["context"], **item.get("context", {})}
                assert _problem(item) is None, item
                good.append(item)
            continue
        if _problem(obj) is None:
            good.append(obj)
        else:
            broken += 1
    return good, broken


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _contact_index(msg: dict[str, Any]) -> int:
    return int(msg["messageId"].split("-")[2])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    out = tmp_path_factory.mktemp("world")
    return out, generate(out, SPEC)


def test_same_spec_gives_byte_identical_files(
    world: tuple[Path, DemoSummary], tmp_path: Path
) -> None:
    """Two runs of the same spec write byte-identical files."""
    first, summary = world
    again = generate(tmp_path, SPEC)
    assert [p.relative_to(tmp_path) for p in again.files] == [
        p.relative_to(first) for p in summary.files
    ]
    for path in summary.files:
        assert path.read_bytes() == (tmp_path / path.relative_to(first)).read_bytes(), path


def test_shard_count_does_not_change_the_lines(
    world: tuple[Path, DemoSummary], tmp_path: Path
) -> None:
    """Splitting into shards (and gzip) changes files, not the set of lines or the CRM."""
    first, summary = world
    spec = DemoSpec(contacts=SPEC.contacts, seed=SPEC.seed, shards=3, gzip=True)
    sharded = generate(tmp_path, spec)
    assert len(list((tmp_path / "events").glob("events-*.jsonl.gz"))) == 3
    assert sorted(_lines(tmp_path)) == sorted(_lines(first))
    assert (sharded.events, sharded.bad_records) == (summary.events, summary.bad_records)
    for name in ("crm/contacts.csv", "crm/accounts.csv", "truth.csv"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name
    again = generate(tmp_path / "again", spec)  # gzip output is byte-identical too
    for path in sharded.files:
        assert path.read_bytes() == (tmp_path / "again" / path.relative_to(tmp_path)).read_bytes()
    assert again.events == sharded.events


def test_single_shard_run_matches_generate(tmp_path: Path) -> None:
    """generate_shard writes the same event file as generate for that shard."""
    spec = DemoSpec(contacts=SPEC.contacts, seed=SPEC.seed, shards=2)
    calls: list[int] = []
    generate_shard(tmp_path, spec, 1, progress=calls.append)
    generate(tmp_path / "all", spec)
    name = "events/events-001.jsonl"
    assert (tmp_path / name).read_bytes() == (tmp_path / "all" / name).read_bytes()
    assert not (tmp_path / "crm").exists()  # only shard 0 writes the CRM files
    shard = generate_shard(tmp_path / "again", spec, 1)
    assert calls and sum(calls) == shard.events


def test_reference_files_alone_match_the_full_run(
    world: tuple[Path, DemoSummary], tmp_path: Path
) -> None:
    """write_reference_files (no events) writes the same CRM, truth and account bytes."""
    first, summary = world
    accounts, files = write_reference_files(tmp_path, SPEC)
    assert accounts == summary.accounts == SPEC.contacts // 8
    assert not (tmp_path / "events").exists()
    for path in files:
        assert path.read_bytes() == (first / path.relative_to(tmp_path)).read_bytes(), path


def test_parallel_workers_write_the_same_files(
    world: tuple[Path, DemoSummary], tmp_path: Path
) -> None:
    """generate(workers=2) over several shards equals the sequential run, progress included."""
    first, _ = world
    spec = DemoSpec(contacts=SPEC.contacts, seed=SPEC.seed, shards=3)
    sequential = generate(tmp_path / "seq", spec)
    calls: list[int] = []
    parallel = generate(tmp_path / "par", spec, progress=calls.append, workers=2)
    assert parallel == DemoSummary(
        contacts=sequential.contacts,
        accounts=sequential.accounts,
        events=sequential.events,
        bad_records=sequential.bad_records,
        files=[tmp_path / "par" / p.relative_to(tmp_path / "seq") for p in sequential.files],
    )
    assert sum(calls) == parallel.events
    for path in sequential.files:
        assert (
            path.read_bytes()
            == (tmp_path / "par" / path.relative_to(tmp_path / "seq")).read_bytes()
        )
    assert (tmp_path / "par/truth.csv").read_bytes() == (first / "truth.csv").read_bytes()


def test_every_line_is_valid_or_a_counted_bad_record(world: tuple[Path, DemoSummary]) -> None:
    """Each line is a valid Segment message or batch, or one of the counted bad records."""
    out, summary = world
    good, broken = _messages(out)
    assert broken == summary.bad_records
    assert len(good) == summary.events
    assert Counter(m["type"] for m in good).keys() == CALL_TYPES
    assert len({m["messageId"] for m in good}) == len(good)


def test_bad_records_are_counted_and_can_be_disabled(tmp_path: Path) -> None:
    """A bigger world has its broken lines counted exactly; bad_records=False has none."""
    summary = generate(tmp_path / "bad", DemoSpec(contacts=2000, seed=3))
    _, broken = _messages(tmp_path / "bad")
    assert broken == summary.bad_records >= 5
    clean = generate(tmp_path / "clean", DemoSpec(contacts=300, seed=3, bad_records=False))
    assert clean.bad_records == 0
    assert _messages(tmp_path / "clean")[1] == 0


@pytest.mark.parametrize("kind", range(len(BAD_RECORD_KINDS)))
def test_every_bad_record_kind_is_rejected(kind: int) -> None:
    """Each kind of deliberately broken line fails validation (or the 32 KB limit)."""
    msg = {
        "type": "track",
        "event": "Form Submitted",
        "properties": {"form_id": "contact"},
        "anonymousId": "a-1",
        "userId": "u_000001",
        "context": {"channel": "web"},
        "messageId": "m-7-1-0",
        "timestamp": "2024-05-01T10:00:00.000Z",
    }
    assert _problem(msg) is None
    line = _broken_line(kind, msg, orjson.dumps(msg), "m-7-1-bad0")
    if len(line) > MAX_EVENT_BYTES:
        return
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return
    assert _problem(obj) is not None
    assert obj["messageId"] == "m-7-1-bad0"


def test_csv_headers_are_exact(world: tuple[Path, DemoSummary]) -> None:
    """CRM and truth files carry exactly the documented headers."""
    out, _ = world
    for name, header in (
        ("crm/contacts.csv", CONTACTS_HEADER),
        ("crm/accounts.csv", ACCOUNTS_HEADER),
        ("truth.csv", TRUTH_HEADER),
    ):
        first_line = (out / name).read_text(encoding="utf-8").splitlines()[0]
        assert first_line == ",".join(header), name
    assert len((out / "README.txt").read_text(encoding="utf-8").splitlines()) == 2


def test_truth_covers_every_class_and_links_to_events(world: tuple[Path, DemoSummary]) -> None:
    """truth.csv has every audience class, and its keys are ids seen in the events."""
    out, summary = world
    truth = _csv(out / "truth.csv")
    assert len(truth) == summary.contacts == SPEC.contacts
    assert {row["audience_class"] for row in truth} == set(AUDIENCE_CLASSES)
    assert {row["kind"] for row in truth} == {"b2b", "b2c"}
    good, _ = _messages(out)
    ids = {m.get("userId") for m in good} | {m.get("anonymousId") for m in good}
    assert all(row["contact_key"] in ids for row in truth)
    for row in truth:
        if row["audience_class"] == "bot":
            assert row["contact_key"] not in {m.get("userId") for m in good}
        if row["audience_class"] == "competitor" and row["email"]:
            assert row["email"].split("@")[1] in COMPETITOR_DOMAINS
        if row["audience_class"] == "employee" and row["email"]:
            assert row["email"].split("@")[1] in OWN_DOMAINS
    # Shared inbox: two different contacts, one e-mail.
    emails = Counter(row["email"] for row in truth if row["email"])
    assert any(n == 2 and email.startswith("info@") for email, n in emails.items())


def test_crm_matches_truth_and_accounts(world: tuple[Path, DemoSummary]) -> None:
    """CRM contacts are identified non-bots (about 85%) whose accounts exist in accounts.csv."""
    out, _ = world
    truth = {row["contact_key"]: row for row in _csv(out / "truth.csv")}
    contacts = _csv(out / "crm/contacts.csv")
    accounts = {row["Account ID"] for row in _csv(out / "crm/accounts.csv")}
    identified = [k for k, row in truth.items() if row["email"]]
    assert 0.75 < len(contacts) / len(identified) < 0.95
    for row in contacts:
        assert truth[row["Contact ID"]]["audience_class"] != "bot"
        assert row["Email Address"].strip().lower() == truth[row["Contact ID"]]["email"]
        assert row["Account ID"] == truth[row["Contact ID"]]["account_id"]
        assert not row["Account ID"] or row["Account ID"] in accounts
        datetime.fromisoformat(row["Created Date"])


def test_purchasers_engage_more_than_non_purchasers(world: tuple[Path, DemoSummary]) -> None:
    """Contacts who bought have more events on average than those who did not."""
    out, _ = world
    truth = _csv(out / "truth.csv")
    good, _ = _messages(out)
    per_contact = Counter(_contact_index(m) for m in good)
    bought = [per_contact[i] for i, row in enumerate(truth) if row["bought"] == "true"]
    not_bought = [per_contact[i] for i, row in enumerate(truth) if row["bought"] == "false"]
    assert bought and not_bought
    assert sum(bought) / len(bought) > 2 * sum(not_bought) / len(not_bought)
    orders = {_contact_index(m) for m in good if m.get("event") == "Order Completed"}
    assert orders == {i for i, row in enumerate(truth) if row["bought"] == "true"}


def test_times_lie_in_window_and_skew_relation_holds(world: tuple[Path, DemoSummary]) -> None:
    """Event times are in [start, end]; skewed mobile messages recover a consistent true time."""
    out, _ = world
    good, _ = _messages(out)
    skewed = [m for m in good if "timestamp" not in m]
    assert 0.005 < len(skewed) / len(good) < 0.08
    for msg in skewed:
        assert msg["context"]["channel"] == "mobile"
        sent, original = _parse_ts(msg["sentAt"]), _parse_ts(msg["originalTimestamp"])
        assert sent is not None and original is not None and sent >= original
    by_contact: dict[int, list[datetime]] = defaultdict(list)
    for msg in good:
        when = _event_time(msg)
        assert when is not None and SPEC.start <= when <= SPEC.end, msg
        by_contact[_contact_index(msg)].append(when)
    # Lines are written in true-time order per contact, so the recovered times must be sorted.
    for times in by_contact.values():
        assert times == sorted(times)
    # Nobody carries a userId before their first identify call.
    first_known: dict[int, str] = {}
    for msg in sorted(good, key=lambda m: (_contact_index(m), _event_time(m))):
        if "userId" in msg:
            first_known.setdefault(_contact_index(msg), msg["type"])
    assert set(first_known.values()) == {"identify"}
    assert any(_parse_ts(m["originalTimestamp"]) != _event_time(m) for m in skewed)
    assert all(_parse_ts(m["timestamp"]).tzinfo == UTC for m in good if "timestamp" in m)  # type: ignore[union-attr]


def test_segment_shapes_and_cross_contact_links(world: tuple[Path, DemoSummary]) -> None:
    """Identify, group, alias, referral and moderation messages are shaped and linked."""
    out, _ = world
    good, _ = _messages(out)
    accounts = {row["Account ID"] for row in _csv(out / "crm/accounts.csv")}
    identifies = [m for m in good if m["type"] == "identify"]
    assert any("email" in m.get("context", {}).get("traits", {}) for m in identifies)
    assert any("userId" not in m and "email" in m["traits"] for m in identifies)
    assert all(m["groupId"] in accounts for m in good if m["type"] == "group")
    assert all(m["previousId"] and m["userId"] for m in good if m["type"] == "alias")
    pages = [m for m in good if m["type"] == "page"]
    assert all(m["context"]["page"]["path"].startswith("/") for m in pages)
    # A referred sign-up carries the code of a Referral Sent to that person, sent before.
    truth = _csv(out / "truth.csv")
    sends = {
        (m["properties"]["referral_code"], m["properties"]["referred_email"]): _event_time(m)
        for m in good
        if m.get("event") == "Referral Sent"
    }
    signups = [
        m for m in good if m.get("event") == "Signed Up" and "referral_code" in m["properties"]
    ]
    assert signups
    for m in signups:
        sent = sends[(m["properties"]["referral_code"], truth[_contact_index(m)]["email"])]
        signed = _event_time(m)
        assert sent is not None and signed is not None and sent <= signed
    # Posts are referred to (liked, shared, reported, moderated) only after they exist.
    created = {
        m["properties"]["post_id"]: _event_time(m) for m in good if m.get("event") == "Post Created"
    }
    reactions = [
        m
        for m in good
        if m.get("event") in {"Post Liked", "Post Shared", "Content Reported", "Moderation Action"}
    ]
    assert any(m["event"] == "Moderation Action" for m in reactions)
    for m in reactions:
        posted = created[m["properties"]["post_id"]]
        when = _event_time(m)
        assert posted is not None and when is not None and posted <= when, m
    replies = [m for m in good if m.get("event") == "Ticket Replied"]
    assert {m["properties"]["author_role"] for m in replies} == {"agent", "customer", "bot"}
    orders = [m for m in good if m.get("event") == "Order Completed"]
    assert all(m["properties"]["currency"] == "EUR" and m["properties"]["products"] for m in orders)


def test_purchases_have_affinities_to_learn(world: tuple[Path, DemoSummary]) -> None:
    """Yarn-pack buyers buy pattern books far more often than other loom owners (B2C tastes),
    and some B2B customers move up a plan (the up-sell in the data)."""
    out, _ = world
    good, _ = _messages(out)
    owned: dict[int, set[str]] = {}
    for m in good:
        if m.get("event") == "Order Completed":
            items = {line["product_id"] for line in m["properties"]["products"]}
            owned.setdefault(_contact_index(m), set()).update(items)
    looms = [items for items in owned.values() if "home-kit" in items]
    with_yarn = [items for items in looms if "yarn-pack" in items]
    without = [items for items in looms if "yarn-pack" not in items]
    assert with_yarn and without

    def share(group: list[set[str]]) -> float:
        return sum("pattern-book" in items for items in group) / len(group)

    assert share(with_yarn) > 1.5 * share(without)
    plans = {"loom-team", "loom-business", "loom-enterprise"}
    assert any(len(items & plans) == 2 for items in owned.values())


def test_churners_fade_and_open_tickets_before_they_cancel(
    world: tuple[Path, DemoSummary],
) -> None:
    """In the 60 days before a cancellation churners use the product less than in the 60 days
    before those (pages, screens, logins, use, clicks, orders), and most open a support ticket
    in the 60 days before (the signals the churn model learns from; before the generator
    made them, 4 of 6 did)."""
    out, _ = world
    good, _ = _messages(out)
    usage = {"Logged In", "Product Used", "Email Link Clicked", "Order Completed"}
    by_contact: dict[int, list[tuple[datetime, str]]] = {}
    for m in good:
        when = _event_time(m)
        if when is not None:
            name = m["type"] if m["type"] in ("page", "screen") else str(m.get("event", ""))
            by_contact.setdefault(_contact_index(m), []).append((when, name))
    day = timedelta(days=1)
    fading = earlier = with_ticket = churners = 0
    for events in by_contact.values():
        cancels = [t for t, name in events if name == "Subscription Cancelled"]
        if not cancels:
            continue
        stop = cancels[0]
        if not any(t < stop - 120 * day for t, _ in events):
            continue  # a customer for under four months: no earlier stretch to compare with
        churners += 1
        used = [t for t, name in events if name in usage or name in ("page", "screen")]
        fading += sum(stop - 60 * day <= t < stop for t in used)
        earlier += sum(stop - 120 * day <= t < stop - 60 * day for t in used)
        with_ticket += any(
            name == "Ticket Created" and stop - 60 * day <= t < stop for t, name in events
        )
    assert churners >= 5
    assert fading < 0.75 * earlier
    assert with_ticket >= 0.8 * churners
