"""Ingestion server throughput: batches of 100 events over loopback, latency, nothing lost.

    .venv/bin/python bench/serve.py --seconds 30 --connections 16

Starts ``clientela serve`` in a fresh workspace (a second process; this one is the client),
creates a write key, and posts ``/v1/batch`` requests of ``--batch`` events each from
``--connections`` keep-alive connections (one thread each) for ``--seconds``. A ``429`` is
retried after its ``Retry-After``; its time counts. Then the server is stopped with SIGTERM
(it lands what is left), and the landed Parquet is counted: every acknowledged event must be
there exactly once. Prints sustained events/second (acknowledged events over the wall time of
the run), latency percentiles of the acknowledged requests, and the check.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not start on port {port}")


class Client(threading.Thread):
    """One keep-alive connection posting batches until told to stop."""

    def __init__(
        self,
        port: int,
        key: str,
        batch: int,
        stop: threading.Event,
        tag: str,
        interval: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.interval = interval  # seconds between requests (0: as fast as answers come)
        self.port = port
        self.auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        self.batch = batch
        self.stop = stop
        self.tag = tag
        self.latencies: list[float] = []
        self.acked_ids: list[str] = []
        self.refused = 0  # 429s (retried)
        self.reconnects = 0  # connections found closed (the batch is sent again)
        self.failed = 0  # anything else

    def body(self, n: int) -> tuple[bytes, list[str]]:
        ids = [f"{self.tag}-{n}-{i}" for i in range(self.batch)]
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        items = [
            {
                "type": "track",
                "event": "Viewed Page",
                "userId": f"user-{(n * self.batch + i) % 5000}",
                "messageId": mid,
                "timestamp": now,
                "properties": {"path": f"/docs/{i}", "referrer": "https://example.com/"},
                "context": {"library": {"name": "bench", "version": "1"}, "ip": "127.0.0.1"},
            }
            for i, mid in enumerate(ids)
        ]
        return orjson.dumps({"batch": items, "sentAt": now}), ids

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json", "Authorization": self.auth}
        n = 0
        due = time.perf_counter()
        while not self.stop.is_set():
            data, ids = self.body(n)
            n += 1
            if self.interval:
                # Paced: latency counts from when the request was due, so a server that
                # falls behind is not excused by the client waiting for it.
                due += self.interval
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                started = due
            else:
                started = time.perf_counter()
            broken = 0
            while True:
                try:
                    conn.request("POST", "/v1/batch", body=data, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    # The server closes idle keep-alive connections (after 5 s, e.g. while
                    # waiting out a Retry-After): reconnect and send the batch again.
                    conn.close()
                    broken += 1
                    self.reconnects += 1
                    if broken < 3:
                        continue
                    self.failed += 1
                    break
                if response.status == 429:
                    self.refused += 1
                    time.sleep(float(response.getheader("Retry-After") or 1))
                    continue
                if response.status == 200:
                    self.latencies.append(time.perf_counter() - started)
                    self.acked_ids.extend(ids)
                else:
                    self.failed += 1
                break
        conn.close()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered)))  # nearest rank
    return ordered[min(rank, len(ordered)) - 1]


def count_landed(root: Path, acked: list[str]) -> tuple[int, int, int]:
    """(rows landed, acknowledged ids landed, acknowledged ids landed more than once)."""
    import duckdb
    import pyarrow as pa

    files = sorted(str(p) for p in (root / "landed" / "events").glob("*.parquet"))
    con = duckdb.connect()
    con.register("acked", pa.table({"message_id": acked}))
    if not files:
        return 0, 0, 0
    rows, found, twice = con.execute(
        "WITH landed AS (SELECT message_id, count(*) AS n FROM read_parquet(?) GROUP BY ALL) "
        "SELECT (SELECT sum(n) FROM landed), count(*), count(*) FILTER (WHERE n > 1) "
        "FROM acked JOIN landed USING (message_id)",
        [files],
    ).fetchone() or (0, 0, 0)
    return int(rows or 0), int(found), int(twice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--compact-seconds", type=float, default=10.0)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="offered events/s (default: as fast as possible)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    args = parser.parse_args()

    clientela = str(Path(sys.executable).with_name("clientela"))
    root = Path(tempfile.mkdtemp(prefix="clientela-bench-serve-")) / "ws"
    subprocess.run([clientela, "init", str(root)], check=True, capture_output=True)
    key = subprocess.run(
        [clientela, "keys", "create", "--kind", "write", "-w", str(root)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[0]
    port = free_port()
    command = [clientela, "serve", "-w", str(root), "--port", str(port)]
    command += ["--compact-seconds", str(args.compact_seconds)]
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_ready(port)
        stop = threading.Event()
        tag = uuid.uuid4().hex[:8]
        interval = args.connections * args.batch / args.rate if args.rate else 0.0
        clients = [
            Client(port, key, args.batch, stop, f"{tag}-{c}", interval)
            for c in range(args.connections)
        ]
        cpu0 = os.times()
        server_cpu0 = process_cpu(server.pid)
        started = time.perf_counter()
        for client in clients:
            client.start()
        time.sleep(args.seconds)
        stop.set()
        for client in clients:
            client.join()
        wall = time.perf_counter() - started
        cpu1 = os.times()
        server_cpu = process_cpu(server.pid) - server_cpu0
        waiting = [p.stat().st_size for p in (root / "state" / "http-log").glob("*.jsonl")]
        server.send_signal(signal.SIGTERM)
        stopping = time.perf_counter()
        _, err = server.communicate(timeout=600)
        shutdown = time.perf_counter() - stopping
    finally:
        if server.poll() is None:
            server.kill()
    if server.returncode not in (0, -signal.SIGTERM):
        print(err.decode(errors="replace"), file=sys.stderr)
    latencies = [x for c in clients for x in c.latencies]
    acked = [m for c in clients for m in c.acked_ids]
    rows, found, twice = count_landed(root, acked)
    offered = f"offered {args.rate:,.0f} events/s" if args.rate else "as fast as answered"
    print(
        f"{len(acked):,} events acknowledged in {len(latencies):,} requests of {args.batch} "
        f"over {wall:.1f} s from {args.connections} connections ({offered})"
    )
    print(f"sustained: {len(acked) / wall:,.0f} events/s ({len(latencies) / wall:,.0f} req/s)")
    print(
        f"latency: p50 {percentile(latencies, 50) * 1e3:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms"
    )
    print(
        f"429 answers (retried): {sum(c.refused for c in clients)}; "
        f"reconnects: {sum(c.reconnects for c in clients)}; "
        f"failed requests: {sum(c.failed for c in clients)}"
    )
    client_cpu = cpu1.user - cpu0.user + cpu1.system - cpu0.system
    print(
        f"CPU during the run: server {server_cpu:.1f} s "
        f"({server_cpu / max(len(latencies), 1) * 1e3:.2f} ms per request, landing included), "
        f"client {client_cpu:.1f} s, of {wall * (os.cpu_count() or 1):.0f} core-seconds"
    )
    print(
        f"not yet landed when the run ended: {sum(waiting) / 1e6:,.1f} MB in {len(waiting)} log "
        f"files; the stop (flush + landing the rest) took {shutdown:.1f} s"
    )
    print(f"end to end (run + final landing): {len(acked) / (wall + shutdown):,.0f} events/s")
    lost = len(acked) - found
    print(
        f"landed: {rows:,} rows; acknowledged events missing: {lost:,}; landed twice: {twice:,}"
        + ("  OK" if lost == 0 and twice == 0 else "  MISMATCH")
    )
    if args.keep:
        print(f"workspace: {root}")
    else:
        shutil.rmtree(root.parent, ignore_errors=True)
    if lost or twice:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
