"""spiders.browser: which Chromium the toolkit launches (the headless shell first), and a clear
error when none is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import spiders.browser as browser


def test_the_headless_shell_is_preferred_and_the_full_browser_is_the_fallback(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shell, full = tmp_path / "chromium-headless-shell", tmp_path / "chromium"
    full.write_text("")
    monkeypatch.delenv("VETTING_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "CANDIDATES", (str(shell), str(full)))
    assert browser.find_chromium() == str(full)
    shell.write_text("")
    assert browser.find_chromium() == str(shell)
    monkeypatch.setenv("VETTING_CHROMIUM", str(full))
    assert browser.find_chromium() == str(full)  # the override wins


def test_no_browser_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CANDIDATES", (str(tmp_path / "absent"),))
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.delenv("VETTING_CHROMIUM", raising=False)
    with pytest.raises(browser.BrowserNotFound, match="chromium-headless-shell"):
        browser.find_chromium()
    monkeypatch.setenv("VETTING_CHROMIUM", str(tmp_path / "nowhere"))
    with pytest.raises(browser.BrowserNotFound, match="does not exist"):
        browser.find_chromium()


def test_this_machine_launches_the_headless_shell() -> None:
    """`make deps` installs both packages (unless VETTING_CHROMIUM names another browser); the
    renderer must be using the faster one."""
    if os.environ.get("VETTING_CHROMIUM"):
        assert browser.find_chromium() == os.environ["VETTING_CHROMIUM"]
    else:
        assert browser.find_chromium() == "/usr/bin/chromium-headless-shell", "run `make deps`"
