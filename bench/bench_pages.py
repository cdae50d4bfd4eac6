"""Page and health-check latency through a real uvicorn process (HTTP/1.1, keep-alive).

Starts uvicorn on the embedded defaults (or DATABASE_URL / REDIS_URL if set) in a private
var/ folder, then fetches a few pages with several concurrent clients and prints requests
per second and latency percentiles. Figures, not assertions: compare runs by eye.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["/", "/help/", "/accounts/login/", "/healthz"]
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_REQUESTS", "100"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def client(base: str, path: str, count: int, out: list[float]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(base + path, timeout=10) as response:
            response.read()
        out.append((time.perf_counter() - started) * 1000)


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as var_dir:
        env = {**os.environ, "DEBUG": "1", "VAR_DIR": var_dir}
        python = str(ROOT / ".venv/bin/python")
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/uvicorn"), "config.asgi:application", "--port", str(port), "--no-access-log"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base + "/healthz", time.monotonic() + 30)
            print(f"{'page':<20} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  ({CLIENTS} clients)")
            for path in PAGES:
                client(base, path, 10, [])  # warm up
                timings: list[float] = []
                threads = [
                    threading.Thread(target=client, args=(base, path, REQUESTS_PER_CLIENT, timings))
                    for _ in range(CLIENTS)
                ]
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - started
                cuts = statistics.quantiles(timings, n=100)
                print(f"{path:<20} {len(timings) / elapsed:>8.0f} {cuts[49]:>8.1f} {cuts[94]:>8.1f} {cuts[98]:>8.1f}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
