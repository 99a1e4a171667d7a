"""`make audit` fails unless pip-audit really audited something (.ci/audit_check.py over its JSON report)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping

from app.config import PROJECT_ROOT

CHECK = PROJECT_ROOT / ".ci" / "audit_check.py"


def run(report: Mapping[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK)], input=json.dumps(report), capture_output=True, text=True,
                          timeout=60, check=False)


def test_nothing_audited_is_a_failure_not_a_pass() -> None:
    """What this machine's pip-audit gives: every pin skipped, and 'No known vulnerabilities found'."""
    report = {"dependencies": [{"name": "fastapi", "version": "9.9", "skip_reason": "not found on PyPI"}]}
    result = run(report)
    assert result.returncode == 1 and "nothing could be audited" in result.stdout


def test_audited_and_clean_passes_and_a_vulnerability_fails() -> None:
    clean = {"dependencies": [{"name": "a", "version": "1", "vulns": []},
                              {"name": "b", "version": "2", "skip_reason": "x"}]}
    assert run(clean).returncode == 0
    bad = {"dependencies": [{"name": "a", "version": "1", "vulns": [{"id": "PYSEC-1"}]}]}
    result = run(bad)
    assert result.returncode == 1 and "VULNERABLE a 1: PYSEC-1" in result.stdout
