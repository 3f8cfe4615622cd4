"""`vet sites health`: the known/random check over a whole site list, against the loopback demo web."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import vet

from vetting.demo.run import demo_procedure
from vetting.domain.bundled import shipped_procedure


def _setup(tmp_path: Path, web) -> Path:
    (tmp_path / "demo-sites.json").write_text(web.resolve(web.sites_manifest_path().read_text(encoding="utf-8")),
                                              encoding="utf-8")
    (tmp_path / "sherlock.json").write_text(web.resolve(web.sherlock_manifest_path().read_text(encoding="utf-8")),
                                            encoding="utf-8")
    proc = tmp_path / "proc.yaml"
    proc.write_text(yaml.safe_dump(demo_procedure(shipped_procedure(), web, "demo-sites.json"), sort_keys=False))
    return proc


def _states(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines()[1:]:
        state, _, rest = line.strip().partition(" ")
        out[rest.strip().split(":", 1)[0]] = state
    return out


def test_health_names_the_degraded_and_unreliable_sites(tmp_path: Path, demo_web) -> None:
    proc = _setup(tmp_path, demo_web)
    result = vet("sites", "health", "--procedure", str(proc), "--all", workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    states = _states(result.stdout)
    assert states["EveryName"] == "unreliable"          # answers yes to the random name
    assert states["Quietpage"] == "degraded"            # robots.txt disallows the check
    assert states["ShieldWall Social"] == "degraded"    # a challenge page, never worked around
    assert states["InnerCircle"] == "degraded"          # a login wall
    assert states["ShieldWall People Search"] == "not_checked" and states["TuneDeck Lookup API"] == "not_checked"
    assert states["Murmur"] == "ok" and states["CodeHub"] == "ok"
    assert "15 site(s) checked" in result.stdout and "1 unreliable" in result.stdout
    # without --all, only the problems are listed
    brief = vet("sites", "health", "--procedure", str(proc), workspace=tmp_path / "ws")
    assert "Murmur" not in brief.stdout and "EveryName" in brief.stdout
    assert not (tmp_path / "ws").exists()  # a health check collects nothing about anyone


def test_health_of_another_list_and_bad_input(tmp_path: Path, demo_web) -> None:
    proc = _setup(tmp_path, demo_web)
    result = vet("sites", "health", str(tmp_path / "sherlock.json"), "--procedure", str(proc),
                 workspace=tmp_path / "ws")
    assert result.returncode == 0 and "6 site(s) checked" in result.stdout
    assert _states(result.stdout) == {"EveryName": "unreliable"}
    (tmp_path / "bad.json").write_text("[" * 100_000)
    bad = vet("sites", "health", str(tmp_path / "bad.json"), "--procedure", str(proc), workspace=tmp_path / "ws")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "bad.json" in bad.stderr
