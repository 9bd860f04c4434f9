"""Shared helpers for the engine tests (no database, no Django settings needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURES_PB = ROOT / "fixtures" / "pabulib"
SHARED_PB = ROOT.parent / "shared" / "pabulib"


def fixture_files() -> list[Path]:
    return sorted(FIXTURES_PB.glob("*.pb"))


def shared_files() -> list[Path]:
    return sorted(SHARED_PB.glob("*.pb")) if SHARED_PB.is_dir() else []


def shared_params() -> list:
    """Parameters over ../shared/pabulib files; one skipped placeholder when ../shared is absent."""
    files = shared_files()
    if not files:
        return [
            pytest.param(None, marks=pytest.mark.skip(reason="../shared/pabulib is absent (fresh clone)"))
        ]
    return [pytest.param(f, id=f.stem) for f in files]


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m tally ARGS` in a subprocess, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "tally", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
