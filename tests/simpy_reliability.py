"""An independent SimPy model of the reliability process (tests and benchmarks only)."""

from __future__ import annotations

import numpy as np
import simpy


def simpy_job(
    class_rates_per_hour: list[float],
    class_hardware: list[bool],
    repair_hours: float,
    horizon_hours: float,
    interval_hours: float,
    checkpoint_hours: float,
    restart_hours: float,
    spares_nodes: int,
    seed: int,
) -> dict[str, float]:
    """One replication: failures per class as processes; the job works, checkpoints and recovers."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    spares = simpy.Store(env)
    for index in range(spares_nodes):
        spares.put(index)
    tally = {"interruptions": 0.0, "useful_hours": 0.0, "checkpoints": 0.0, "hardware_failures": 0.0}
    pending: list[simpy.Event] = []

    def repair(node: int) -> simpy.events.ProcessGenerator:
        yield env.timeout(repair_hours)
        yield spares.put(node)

    def job() -> simpy.events.ProcessGenerator:
        recovering = False
        while True:
            try:
                if recovering:
                    for request in list(pending):
                        yield request
                        pending.remove(request)
                    yield env.timeout(restart_hours)
                    recovering = False
                yield env.timeout(interval_hours)
                yield env.timeout(checkpoint_hours)
                tally["useful_hours"] += interval_hours
                tally["checkpoints"] += 1
            except simpy.Interrupt:
                recovering = True

    runner = env.process(job())

    def failures(rate: float, hardware: bool) -> simpy.events.ProcessGenerator:
        while True:
            yield env.timeout(rng.exponential(1.0 / rate))
            tally["interruptions"] += 1
            if hardware:
                tally["hardware_failures"] += 1
                pending.append(spares.get())
                env.process(repair(-1))
            runner.interrupt()

    for rate, hardware in zip(class_rates_per_hour, class_hardware, strict=True):
        if rate > 0:
            env.process(failures(rate, hardware))
    env.run(until=horizon_hours)
    tally["goodput"] = tally["useful_hours"] / horizon_hours
    tally["events"] = tally["interruptions"] + tally["checkpoints"] + tally["hardware_failures"]
    return tally
