"""`loadwatch simulate`: simulated provider APIs on loopback and a config that
works against them, until Ctrl-C."""

from __future__ import annotations

import signal

import yaml

from tests.cli.process import Running, loadwatch


def test_simulate_serves_providers_and_a_config_that_runs_against_them(tmp_path):
    config = tmp_path / "sim.yaml"
    simulators = Running(
        "simulate", "kpa_flex", "comestri", "--port", "0", "--stage", "0.2", "--write", str(config)
    )
    try:
        simulators.expect(f"config written to {config}")
        kpa_line = simulators.expect("kpa_flex ")
        assert kpa_line.split()[1].startswith("http://127.0.0.1:")
        written = yaml.safe_load(config.read_text())
        assert set(written["providers"]) == {"sim-kpa_flex", "sim-comestri"}

        check = loadwatch("check", "-c", str(config))
        assert check.returncode == 0, check.stderr
        assert "OK (4 watches, 2 providers, 1 notifiers)" in check.stdout

        written["defaults"]["poll"] = {"initial": "0.2s", "max": "0.2s"}
        config.write_text(yaml.safe_dump(written))
        daemon = Running("run", "-c", str(config))
        try:
            for line in (
                "kpa-succeeds succeeded",
                "kpa-fails failed",
                "comestri-succeeds succeeded",
                "comestri-partial partial",
            ):
                daemon.expect(line, timeout=60)
        finally:
            assert daemon.stop() == 0
    finally:
        simulators.process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            assert simulators.wait() == 0
        finally:
            simulators.process.kill()  # only if it did not stop: never left behind


def test_simulate_suggests_a_type_it_does_not_know():
    result = loadwatch("simulate", "kpa_flx")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "no simulator for provider type 'kpa_flx' (did you mean 'kpa_flex'?)"
    )


def test_simulate_on_a_taken_port_is_one_line():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = loadwatch("simulate", "kpa_flex", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"loadwatch: cannot serve the kpa_flex simulator on 127.0.0.1:{port}:"
        " address already in use (choose others with --port)"
    )
