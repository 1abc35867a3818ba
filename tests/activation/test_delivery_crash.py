"""At-least-once delivery end to end: a real receiver on 127.0.0.1 that fails (500) some
requests and answers others too late, and a ``clientela deliver`` process killed (SIGKILL)
mid-batch, then run again. Every planned action arrives, duplicates only ever carry the same
idempotency key and the same item, nothing suppressed arrives, and every signature verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from receiver import receiving

import clientela
from clientela.activation.destinations.items import segment_change_id
from clientela.activation.destinations.signing import verify
from clientela.activation.store import DeliveryStore
from conftest import make_workspace
from published_activation import AS_OF, action, publish

SECRET = "whsec_crash_test"
KILL_AT = 12  # the sender is killed while the receiver holds its 12th request

ACTIONS = [action(f"act-{i:02}", f"c{i}", "thank_you", "transactional") for i in range(30)]
SUPPRESSED = [
    action(f"sup-{i}", f"s{i}", "win_back", "marketing", status="suppressed") for i in range(5)
]
CHANGES = [
    {"segment": "vip", "contact_id": f"c{i}", "change": "entered", "at": AS_OF} for i in range(4)
]


def _bucket(key: str) -> int:
    return zlib.crc32(key.encode()) % 5


def _deliver(ws_root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "clientela.cli", "deliver", "-w", str(ws_root)]
    return subprocess.Popen(
        [*command, "--max-wait", "15"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.slow
def test_every_planned_action_arrives_through_failures_timeouts_and_a_kill(
    tmp_path: Path,
) -> None:
    """First arrivals of keys in bucket 1 get a 500 and of bucket 2 an answer after the 0.3 s
    timeout; the sender dies at the 12th request (after the receiver got it, before the
    answer). The second deliver finishes the job: 30 planned actions and 4 changes, all
    delivered, none suppressed, repeats only of the same key with the same body data."""
    pid: dict[str, int] = {}
    killed: list[str] = []

    def plan(key: str, seen: int) -> Any:
        if receiver_ref and len(receiver_ref[0].arrivals) + 1 == KILL_AT and not killed:
            killed.append(key)
            return lambda: os.kill(pid["sender"], signal.SIGKILL)
        if seen == 1 and _bucket(key) == 1:
            return "fail"
        if seen == 1 and _bucket(key) == 2:
            return "slow"
        return "ok"

    receiver_ref: list[Any] = []
    with receiving(plan, slow_seconds=1.0) as receiver:
        receiver_ref.append(receiver)
        toml = (
            '[destinations.crm]\nkind = "webhook"\n'
            f'url = "{receiver.url}"\nsecret_env = "CRASH_TEST_SECRET"\n'
            "timeout_seconds = 0.3\nmax_attempts = 6\n"
            "backoff_base_seconds = 0.01\nbackoff_max_seconds = 0.05\n"
        )
        ws = make_workspace(tmp_path / "ws", toml)
        publish(ws, actions=ACTIONS + SUPPRESSED, history=CHANGES)
        src = str(Path(clientela.__file__).resolve().parents[1])
        env = {**os.environ, "CRASH_TEST_SECRET": SECRET, "PYTHONPATH": src}
        first = _deliver(ws.root, env)
        pid["sender"] = first.pid
        first.communicate(timeout=60)
        assert first.returncode == -signal.SIGKILL, "the first deliver was not killed"
        with DeliveryStore.open(ws) as store:
            left = store.counts()["crm"]
        assert left["pending"] > 0, "the kill came after the batch: nothing was left to resend"
        second = _deliver(ws.root, env)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err.decode()
        assert b"crm" in out and b"delivered" in out  # the per-destination table
        arrivals = list(receiver.arrivals)

    planned = {a["action_id"] for a in ACTIONS}
    changes = {segment_change_id({**c, "at": AS_OF.isoformat()}) for c in CHANGES}
    keys = {a.key for a in arrivals}
    assert keys == planned | changes  # everything arrived, and nothing else
    assert not keys & {s["action_id"] for s in SUPPRESSED}
    assert killed[0] in keys and [a.key for a in arrivals].count(killed[0]) >= 2  # resent
    data_by_key: dict[str, set[str]] = {}
    for arrival in arrivals:
        document = json.loads(arrival.body)
        assert document["id"] == arrival.key  # the body names the same item as the header
        if document["type"] == "action":
            assert document["data"]["status"] == "planned"
        data_by_key.setdefault(arrival.key, set()).add(json.dumps(document["data"]))
        assert verify(SECRET, arrival.signature, arrival.body, now=time.time())
    assert all(len(bodies) == 1 for bodies in data_by_key.values())  # duplicates are the same
    assert len(arrivals) > len(keys)  # the failures, timeouts and the kill did cause repeats
    with DeliveryStore.open(ws) as store:
        assert store.counts()["crm"] == {"pending": 0, "delivered": 34, "dead": 0}
