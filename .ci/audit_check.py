"""Read pip-audit's JSON report (stdin) and fail unless it audited something and found nothing.

pip-audit prints "No known vulnerabilities found" even when every package was skipped ("could not be
audited": the advisory service does not know the pinned versions, or cannot be reached). That is no
assurance, so this check fails then, naming how many were skipped, as it fails on any vulnerability.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    report = json.load(sys.stdin)
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        ids = ", ".join(v.get("id", "?") for v in dep["vulns"])
        print(f"VULNERABLE {dep['name']} {dep['version']}: {ids}")
    print(f"audited {len(audited)} of {len(dependencies)} pinned packages; {len(skipped)} could not be audited")
    if not audited:
        print("nothing could be audited: this is no assurance (see SECURITY.md, Dependencies)")
        return 1
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
