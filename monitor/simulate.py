"""`loadwatch simulate`: the built-in fake vendor APIs (monitor/simulators) on
loopback, each with a few jobs, and a config that points at them — to try
loadwatch, a notifier or a config change without a vendor account.

Each job starts moving at its first poll (then a stage every STAGE_SECONDS), so
the config can be written and checked at leisure before `loadwatch run`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from monitor.problems import StartupProblem
from monitor.simulators import comestri, fullstory, incorta, kpa_flex, rocketchat
from monitor.simulators.base import Simulator, Step

STAGE_SECONDS = 20.0  # the default; `simulate --stage` changes it
FIRST_PORT = 9401  # fixed ports by default, so a saved config works after a restart


@dataclass
class SimulatedProvider:
    """One running simulator, as a config sees it: a provider block and watches."""

    type: str
    simulator: Simulator
    block: dict[str, Any]
    jobs: dict[str, str] = field(default_factory=dict)  # watch name -> job id


def _from_first_poll(script: list[Step]) -> list[Step]:
    """`script` with its first stage lasting one poll, so the timed stages
    after it count from the first poll, not from when the simulator started."""
    first = script[0]
    return [Step(first.fields, polls=1), *script[1:]]


def _kpa_flex(port: int, stage: float) -> SimulatedProvider:
    sim = kpa_flex.KpaFlexSimulator(rate_limit=None, port=port).start()
    sim.add_job(
        "5804f0f30ef50473af5870c6", _from_first_poll(kpa_flex.success_script(seconds=stage))
    )
    sim.add_job(
        "5804f0f30ef50473af5870c7",
        _from_first_poll(kpa_flex.failure_script(seconds=stage)),
    )
    block = {"type": "kpa_flex", "base_url": sim.url, "token": sim.token}
    jobs = {"kpa-succeeds": "5804f0f30ef50473af5870c6", "kpa-fails": "5804f0f30ef50473af5870c7"}
    return SimulatedProvider("kpa_flex", sim, block, jobs)


def _comestri(port: int, stage: float) -> SimulatedProvider:
    sim = comestri.ComestriSimulator(port=port).start()
    sim.add_job("4711", _from_first_poll(comestri.success_script(seconds=stage)))
    sim.add_job("4712", _from_first_poll(comestri.partial_script(seconds=stage)))
    block = {"type": "comestri", "base_url": sim.url, "token": comestri.DEFAULT_TOKEN}
    return SimulatedProvider(
        "comestri", sim, block, {"comestri-succeeds": "4711", "comestri-partial": "4712"}
    )


def _fullstory(port: int, stage: float) -> SimulatedProvider:
    sim = fullstory.FullStorySimulator(rate_limit=None, port=port).start()
    sim.add_job("batch-1", _from_first_poll(fullstory.success_script(seconds=stage)))
    block = {"type": "fullstory", "base_url": sim.url, "api_key": sim.api_key}
    return SimulatedProvider("fullstory", sim, block, {"fullstory-succeeds": "batch-1"})


def _rocketchat(port: int, stage: float) -> SimulatedProvider:
    sim = rocketchat.RocketChatSimulator(rate_limit=None, port=port).start()
    sim.start_operation(_from_first_poll(rocketchat.success_script(seconds=stage)))
    block = {
        "type": "rocketchat",
        "base_url": sim.url,
        "user_id": sim.user_id,
        "auth_token": sim.auth_token,
    }
    return SimulatedProvider("rocketchat", sim, block, {"rocketchat-import": "current"})


def _incorta(port: int, stage: float) -> SimulatedProvider:
    sim = incorta.IncortaSimulator(port=port).start()
    execution = sim.add_execution(_from_first_poll(incorta.success_script(seconds=stage)))
    block = {
        "type": "incorta",
        "base_url": sim.url,
        "tenant": sim.tenant,
        "token": sim.token,
    }
    return SimulatedProvider("incorta", sim, block, {"incorta-plan": execution})


STARTERS: dict[str, Callable[[int, float], SimulatedProvider]] = {
    "kpa_flex": _kpa_flex,
    "comestri": _comestri,
    "fullstory": _fullstory,
    "rocketchat": _rocketchat,
    "incorta": _incorta,
}


@contextlib.contextmanager
def simulated(
    types: Sequence[str], first_port: int = 0, stage: float = STAGE_SECONDS
) -> Iterator[list[SimulatedProvider]]:
    """The simulators of `types` (every type when empty), running until the
    block ends: on ports from `first_port` in the order of STARTERS, or on
    free ports when it is 0. A taken port is a StartupProblem."""
    started: list[SimulatedProvider] = []
    try:
        for offset, name in enumerate(STARTERS):
            if types and name not in types:
                continue
            port = first_port + offset if first_port else 0
            try:
                started.append(STARTERS[name](port, stage))
            except OSError as error:
                raise StartupProblem(
                    f"cannot serve the {name} simulator on 127.0.0.1:{port}:"
                    f" {(error.strerror or str(error)).lower()} (choose others with --port)"
                ) from None
        yield started
    finally:
        for provider in started:
            provider.simulator.stop()


def config_for(providers: Sequence[SimulatedProvider]) -> dict[str, Any]:
    """A config that watches every simulated job and prints messages in the terminal."""
    return {
        "database": "sqlite:///simulated.db",
        "defaults": {"notify": ["terminal"], "poll": {"initial": "5s", "max": "30s"}},
        "providers": {f"sim-{p.type}": p.block for p in providers},
        "notifiers": {"terminal": {"urls": ["console://"]}},
        "watches": [
            {"name": name, "provider": f"sim-{p.type}", "job": job}
            for p in providers
            for name, job in p.jobs.items()
        ],
    }


def unknown_types(types: Sequence[str]) -> list[str]:
    return [name for name in types if name not in STARTERS]


def run_simulators(
    types: Sequence[str],
    first_port: int = FIRST_PORT,
    stage: float = STAGE_SECONDS,
    write: Path | None = None,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> int:
    """The command: start, print URLs and a config (also to `write`), serve
    until Ctrl-C, SIGTERM or `stop`."""
    from monitor.config.suggest import did_you_mean

    for name in unknown_types(types):
        hint = did_you_mean(name, STARTERS) or f" (known: {', '.join(STARTERS)})"
        print(f"no simulator for provider type '{name}'{hint}", file=sys.stderr)
        return 2
    stop = stop or threading.Event()
    with simulated(types, first_port, stage) as providers:
        for provider in providers:
            print(f"{provider.type:<11} {provider.simulator.url}", file=out)
        text = yaml.safe_dump(config_for(providers), sort_keys=False)
        if write is not None:
            write.write_text(text, encoding="utf-8")
            print(f"\nconfig written to {write}; try it:", file=out)
            hint = f"-c {write}"
        else:
            print("\nA config for these simulators (save it as sim.yaml):\n", file=out)
            print(text, file=out)
            hint = "-c sim.yaml"
        print(
            f"  loadwatch check {hint} && loadwatch run {hint}\n"
            f"Each job moves on every {stage:g} s from its first poll."
            " Stop the simulators with Ctrl-C.",
            file=out,
            flush=True,
        )
        _wait(stop)
    return 0


def _wait(stop: threading.Event) -> None:
    """Block until `stop` is set or SIGINT/SIGTERM arrives. Both get a handler
    of their own: a shell starts a background command with SIGINT ignored,
    and Python then raises no KeyboardInterrupt for it."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in handlers:
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
