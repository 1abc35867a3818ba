"""The delivery store: idempotent enqueueing, item states, dead-letter replay, the lock, and
the sent messages the policy's frequency caps count."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from clientela.activation.store import DeliveryStore, Item, delivery_lock, sent_messages
from clientela.activation.tables import SENT_SCHEMA
from clientela.errors import ClientelaError
from clientela.workspace import Workspace
from conftest import make_workspace

T0 = 1_782_864_000.0  # 2026-07-01 00:00:00 UTC


def _action(destination: str, aid: str, counts: bool = True, **payload: str) -> Item:
    row = {"action_id": aid, "contact_id": f"c-{aid}", "action": "thank_you"}
    row.update(channel="email", purpose="transactional", **payload)
    return Item(destination, aid, "action", "v1", row, counts_as_sent=counts)


def _change(destination: str, key: str) -> Item:
    row = {"segment": "vip", "contact_id": "c1", "change": "entered", "at": "2026-06-30"}
    return Item(destination, key, "segment_change", "v1", row)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


def test_enqueue_adds_each_destination_and_item_once(ws: Workspace) -> None:
    """Enqueueing the same items again adds nothing; a new item or destination adds one."""
    with DeliveryStore.open(ws) as store:
        first = [_action("hook", "a1"), _action("hook", "a2")]
        assert store.enqueue(first, T0) == 2
        assert store.enqueue(first, T0 + 5) == 0
        assert store.enqueue([*first, _action("hook", "a3")], T0 + 9) == 1
        assert store.enqueue([_action("files", "a1")], T0) == 1  # same item, other destination
        assert store.counts() == {
            "hook": {"pending": 3, "delivered": 0, "dead": 0},
            "files": {"pending": 1, "delivered": 0, "dead": 0},
        }
        assert store.known("hook", ["a1", "a3", "zz"]) == {"a1", "a3"}


def test_items_go_pending_to_delivered_or_dead_and_dead_ones_replay(ws: Workspace) -> None:
    """A failure counts an attempt and schedules the next; the last one makes the item dead;
    replaying puts it back to pending with no attempts and due at once."""
    with DeliveryStore.open(ws) as store:
        store.enqueue([_action("hook", "a1"), _action("hook", "a2")], T0)
        assert [i.item_id for i in store.due("hook", T0)] == ["a1", "a2"]
        store.mark_failed("hook", "a1", "attempt 1: HTTP 500", T0 + 30, dead=False)
        store.mark_delivered("hook", ["a2"], T0 + 1)
        assert store.due("hook", T0 + 29) == []  # a1 waits its backoff
        (waiting,) = store.due("hook", T0 + 30)
        assert (waiting.attempts, waiting.last_error) == (1, "attempt 1: HTTP 500")
        assert store.next_attempt("hook") == T0 + 30
        store.mark_failed("hook", "a1", "attempt 2: HTTP 500", T0 + 90, dead=True)
        assert store.next_attempt("hook") is None
        dead, total = store.items("hook", "dead")
        assert total == 1 and dead[0].item_id == "a1" and dead[0].attempts == 2
        (delivered,) = store.items("hook", "delivered")[0]
        assert delivered.delivered_at == datetime.fromtimestamp(T0 + 1, UTC)
        assert store.replay_dead("hook", T0 + 100) == 1
        (again,) = store.due("hook", T0 + 100)
        assert (again.item_id, again.attempts, again.status) == ("a1", 0, "pending")


def test_due_items_page_in_enqueue_order(ws: Workspace) -> None:
    """Pages follow the order of enqueueing, the cursor being the last item's seq."""
    with DeliveryStore.open(ws) as store:
        store.enqueue([_action("hook", k) for k in ("b", "a", "c")], T0)
        first = store.due("hook", T0, limit=2)
        assert [i.item_id for i in first] == ["b", "a"]
        assert [i.item_id for i in store.due("hook", T0, after=first[-1].seq)] == ["c"]
        assert store.due("hook", T0 - 1) == []  # not due before it was enqueued


def test_enqueued_versions_are_remembered(ws: Workspace) -> None:
    """A version is marked per destination, so the next delivery skips reading it again."""
    with DeliveryStore.open(ws) as store:
        assert not store.version_enqueued("hook", "v1")
        store.mark_version("hook", "v1", 2, T0)
        assert store.version_enqueued("hook", "v1")
        assert not store.version_enqueued("files", "v1")


def test_the_store_survives_reopening(ws: Workspace) -> None:
    """State is on disk: a new process (a new connection) sees what the last one committed."""
    with DeliveryStore.open(ws) as store:
        store.enqueue([_action("hook", "a1")], T0)
        store.mark_delivered("hook", ["a1"], T0 + 2)
    with DeliveryStore.open(ws) as store:
        assert store.counts()["hook"]["delivered"] == 1


def test_sent_messages_are_delivered_actions_once_each(ws: Workspace) -> None:
    """Delivered actions of destinations that count as sent, once per action (its first
    delivery); pending actions, segment changes and archive-only destinations are left out."""
    assert sent_messages(ws).equals(SENT_SCHEMA.empty_table())  # no store yet: nothing sent
    assert not (ws.state_dir / "deliveries.sqlite").exists()  # and reading did not create it
    with DeliveryStore.open(ws) as store:
        store.enqueue(
            [
                _action("hook", "a1"),
                _action("files", "a1"),  # the same message through a second destination
                _action("hook", "a2"),  # stays pending
                _action("archive", "a3", counts=False),
                _change("hook", "sc_1"),
            ],
            T0,
        )
        store.mark_delivered("files", ["a1"], T0 + 60)
        store.mark_delivered("hook", ["a1", "sc_1"], T0 + 10)
        store.mark_delivered("archive", ["a3"], T0 + 20)
    sent = sent_messages(ws)
    assert sent.schema.equals(SENT_SCHEMA)
    assert sent.to_pylist() == [
        {
            "contact_id": "c-a1",
            "channel": "email",
            "purpose": "transactional",
            "action": "thank_you",
            "sent_at": datetime.fromtimestamp(T0 + 10, UTC),  # the earlier of +10 s and +60 s
        }
    ]


def test_one_delivery_at_a_time(ws: Workspace) -> None:
    """A second delivery while one holds the lock is refused with a clear error."""
    refused = pytest.raises(ClientelaError, match="another delivery is running")
    with delivery_lock(ws), refused, delivery_lock(ws):  # the second lock is what fails
        pass
    with delivery_lock(ws):  # released: the next one may go
        pass
