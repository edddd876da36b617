"""Latency of the dashboard's recompute after a change (deterministic Abilene run), p50 and p95.

Each change is one ``POST /api/preview`` through the web application (ASGI, in process): the accelerator
count moves to a new value, so no answer comes from the cache. Baseline: the same change recomputed in
process, as a notebook would: the edited scenario loaded and run (``neocloud.run``, one draw) and its
summary taken, imports and catalog already warm. Context: a full ``neocloud run FILE --json --no-store``
subprocess on an edited scenario file, mostly interpreter start-up and imports.
Usage: ``python benchmarks/bench_dashboard.py [--quick]``.

``--clients 50`` measures the server under load instead: ``neocloud serve`` on loopback and 50 clients,
each reading the runs and the systems table, then previewing its own change, then pausing (``--think``
seconds, jittered by half either way, as a person moving a slider does), for ``--seconds``; a prober asks
``/healthz`` every 100 ms throughout. It prints p50/p95 of previews and reads, the slowest ``/healthz``,
how the server answered the previews (computed, from its cache, joined to one in flight: ``/api/metrics``),
the load average before and after (the machine may be shared), the server's child processes left after
it stops (none expected), and, as the baseline, the preview p95 of one client alone on the same server.

``--cpu`` prints the CPU time of one computed preview (in process, one worker thread, after the base run)
for eight changes of each kind: accelerators (every stage), power price (energy onwards), utilisation
(finance alone). CPU time, unlike latency, barely moves when the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import psutil
import yaml

import neocloud
from neocloud.web import create_app

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "abilene.yaml"


def dashboard_latencies(changes: int) -> list[float]:
    """Seconds per recompute for ``changes`` different accelerator counts, after one warm-up."""
    text = EXAMPLE.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        client = TestClient(create_app(store_url=f"sqlite:///{folder}/runs.db"), base_url="http://127.0.0.1")
        assert client.post("/api/preview", json={"scenario": text}).status_code == 200
        latencies = []
        for index in range(changes):
            body = {"scenario": text, "inputs": {"accelerators": 200_000 + 1_500 * index}}
            started = time.perf_counter()
            answer = client.post("/api/preview", json=body)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    return latencies


def edited(data: dict, index: int) -> dict:
    """The scenario with each phase's systems per building moved by ``index``."""
    for phase in data["campus"]["phases"]:
        phase["systems_per_building"] = 400 + 10 * index
    return data


def in_process_latencies(changes: int) -> list[float]:
    """Seconds per change for an in-process load, run and summary of an edited scenario, after a warm-up."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    latencies = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scenario.yaml"
        for index in range(-1, changes):
            path.write_text(yaml.safe_dump(edited(data, index), sort_keys=False), encoding="utf-8")
            started = time.perf_counter()
            neocloud.run(neocloud.load(path)).summary()
            if index >= 0:
                latencies.append(time.perf_counter() - started)
    return latencies


def subprocess_latencies(changes: int) -> list[float]:
    """Seconds per change for a full ``neocloud run`` subprocess on an edited copy of the scenario."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    latencies = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(changes):
            path = Path(folder) / "scenario.yaml"
            path.write_text(yaml.safe_dump(edited(data, index), sort_keys=False), encoding="utf-8")
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "neocloud.cli", "run", str(path), "--json", "--no-store"],
                check=True,
                capture_output=True,
            )
            latencies.append(time.perf_counter() - started)
    return latencies


@contextmanager
def served(left: list[int] | None = None) -> Iterator[tuple[str, int]]:
    """``neocloud serve`` on a free loopback port with a throwaway store; its base URL and pid. The pids of
    its child processes still alive 30 s after it stopped are added to ``left``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "neocloud.cli", "serve", "--port", str(port),
                   "--store", f"sqlite:///{folder}/runs.db"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            yield url, process.pid
        finally:
            children = psutil.Process(process.pid).children(recursive=True)
            process.terminate()
            process.wait(timeout=30)
            _, alive = psutil.wait_procs(children, timeout=30)
            if left is not None:
                left.extend(child.pid for child in alive)


def client_loop(url: str, index: int, until: float, think: float, timings: dict[str, list[float]]) -> None:
    """One dashboard user: read, read, preview its own change, pause; until ``until``."""
    text = EXAMPLE.read_text(encoding="utf-8")
    rng = random.Random(index)
    with httpx.Client(base_url=url, timeout=120) as session:
        for change in range(1_000_000):
            if time.monotonic() >= until:
                break
            body = {"scenario": text, "inputs": {"accelerators": 200_000 + 997 * index + 13 * change}}
            for kind, method, path, payload in (
                ("read", "GET", "/api/runs", None),
                ("read", "GET", "/api/catalog/systems", None),
                ("preview", "POST", "/api/preview", body),
            ):
                started = time.perf_counter()
                status = session.request(method, path, json=payload).status_code
                timings[kind if status == 200 else "failed"].append(time.perf_counter() - started)
            time.sleep(think * rng.uniform(0.5, 1.5))


def probe_health(url: str, until: float, timings: dict[str, list[float]]) -> None:
    """Ask /healthz every 100 ms until ``until``."""
    with httpx.Client(base_url=url, timeout=30) as session:
        while time.monotonic() < until:
            started = time.perf_counter()
            session.get("/healthz")
            timings["healthz"].append(time.perf_counter() - started)
            time.sleep(0.1)


def under_load(url: str, clients: int, seconds: float, think: float) -> dict[str, np.ndarray]:
    """Latencies (ms) by kind with ``clients`` users and a health prober, for ``seconds``."""
    timings: dict[str, list[float]] = {"read": [], "preview": [], "healthz": [], "failed": []}
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(url, index, until, think, timings))
               for index in range(clients)]
    threads.append(threading.Thread(target=probe_health, args=(url, until, timings)))
    for thread in threads:
        thread.start()
        time.sleep(think / clients)  # users arrive spread over one pause, not all in the same millisecond
    for thread in threads:
        thread.join()
    return {kind: np.asarray(values) * 1000 for kind, values in timings.items()}


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) used so far by a process and its live descendants."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def preview_cpu(changes: int = 8) -> dict[str, float]:
    """CPU milliseconds per computed preview, by the input changed (each change a new scenario)."""
    from neocloud.web.previews import Previewer
    from neocloud.web.whatif import Inputs

    text = EXAMPLE.read_text(encoding="utf-8")
    previewer = Previewer(workers=1)
    previewer.preview(text, Inputs())
    kinds = {
        "accelerators": lambda index: Inputs(accelerators=200_000 + 997 * index),
        "power price": lambda index: Inputs(power_price_usd_per_mwh=30 + index),
        "utilisation": lambda index: Inputs(utilisation=0.5 + 0.01 * index),
    }
    out = {}
    for kind, inputs in kinds.items():
        started = time.process_time()
        for index in range(changes):
            previewer.preview(text, inputs(index))
        out[kind] = 1000 * (time.process_time() - started) / changes
    previewer.close()
    return out


def load_main(clients: int, seconds: float, think: float) -> None:
    """The 50-client mode: figures under load, and one client alone as the baseline."""
    left: list[int] = []
    load_before = os.getloadavg()
    with served(left) as (url, pid):
        text = EXAMPLE.read_text(encoding="utf-8")
        httpx.post(f"{url}/api/preview", json={"scenario": text}, timeout=120)  # the base run, cached
        alone = under_load(url, 1, min(seconds, 20), think=0.2)["preview"]
        before = httpx.get(f"{url}/api/metrics").json()["previews"]
        cpu_before = tree_cpu_seconds(pid)
        loaded = under_load(url, clients, seconds, think)
        cpu = tree_cpu_seconds(pid) - cpu_before
        after = httpx.get(f"{url}/api/metrics").json()["previews"]
        load_after = os.getloadavg()
    previews, reads, health = loaded["preview"], loaded["read"], loaded["healthz"]
    answered = {kind: after[kind] - before[kind] for kind in ("computed", "from_cache", "joined", "failed")}
    print(f"load average (1, 5, 15 min) before {' '.join(f'{value:.2f}' for value in load_before)}, "
          f"after {' '.join(f'{value:.2f}' for value in load_after)} on {os.cpu_count()} CPUs")
    print("previews under load answered: " + ", ".join(f"{count} {kind.replace('_', ' ')}"
                                                        for kind, count in answered.items())
          + f"; server child processes left after it stopped: {len(left)}")
    print(f"server CPU under load: {cpu:.1f} s over {seconds:.0f} s, "
          f"{1000 * cpu / max(answered['computed'], 1):.0f} ms per computed preview (reads and cache hits included)")
    print(f"{clients} clients for {seconds:.0f} s, pause {think:g} s: {len(previews)} previews, {len(reads)} reads, "
          f"{len(loaded['failed'])} failed")
    print(f"previews p50 {np.percentile(previews, 50):.0f} ms p95 {np.percentile(previews, 95):.0f} ms "
          f"(goal under 1000); reads p50 {np.percentile(reads, 50):.0f} ms p95 {np.percentile(reads, 95):.0f} ms "
          f"(goal under 200); /healthz max {health.max():.0f} ms over {len(health)} (goal under 100)")
    print(f"dashboard under {clients} clients: preview p95 {np.percentile(previews, 95):.0f} ms, "
          f"one client alone p95 {np.percentile(alone, 95):.0f} ms, "
          f"ratio {np.percentile(previews, 95) / np.percentile(alone, 95):.1f}x")


def main() -> None:
    """Measure both, print the figures; the last line is the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer changes (under a minute)")
    parser.add_argument("--clients", type=int, default=0, help="serve and measure with this many clients")
    parser.add_argument("--seconds", type=float, default=0, help="length of the load (default 60, quick 25)")
    parser.add_argument("--cpu", action="store_true", help="CPU time per computed preview, by input")
    parser.add_argument("--think", type=float, default=5.0, help="mean pause of a client between changes (s)")
    arguments = parser.parse_args()
    if arguments.cpu:
        print("CPU per computed preview: " + ", ".join(f"{kind} {ms:.0f} ms" for kind, ms in preview_cpu().items()))
        return
    if arguments.clients:
        seconds = arguments.seconds or (25 if arguments.quick else 60)
        load_main(arguments.clients, seconds, arguments.think)
        return
    changes, baseline_changes = (30, 4) if arguments.quick else (100, 10)
    dashboard = np.asarray(dashboard_latencies(changes)) * 1000
    recompute = np.asarray(in_process_latencies(baseline_changes * 2)) * 1000
    baseline = np.asarray(subprocess_latencies(baseline_changes)) * 1000
    print(
        f"dashboard recompute over {changes} changes: p50 {np.percentile(dashboard, 50):.0f} ms, "
        f"p95 {np.percentile(dashboard, 95):.0f} ms, max {dashboard.max():.0f} ms (goal: p95 under 200 ms)"
    )
    print(
        f"context: neocloud run subprocess over {baseline_changes} changes: p50 "
        f"{np.percentile(baseline, 50):.0f} ms, p95 {np.percentile(baseline, 95):.0f} ms, ratio "
        f"{np.percentile(baseline, 95) / np.percentile(dashboard, 95):.0f}x"
    )
    print(
        f"dashboard: p95 {np.percentile(dashboard, 95):.0f} ms per change, in-process recompute "
        f"p95 {np.percentile(recompute, 95):.0f} ms per change ({len(recompute)} changes), "
        f"ratio {np.percentile(recompute, 95) / np.percentile(dashboard, 95):.1f}x"
    )


if __name__ == "__main__":
    main()
