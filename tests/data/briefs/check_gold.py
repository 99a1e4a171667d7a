#!/usr/bin/env python3
"""Sanity-check the gold files in this directory against their briefs.

For every <slug>.jsonl: each line is valid JSON with id/question/evidence,
ids are unique, every evidence string occurs verbatim in <slug>.txt
(read with encoding="utf-8", newline=""). Prints counts per brief.
Exit status is 1 if any problem is found.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_EVIDENCE_LEN = 20


def main() -> int:
    problems: list[str] = []
    seen_ids: set[str] = set()
    gold_files = sorted(HERE.glob("*.jsonl"))
    if not gold_files:
        problems.append("no .jsonl gold files found")
    for gold in gold_files:
        slug = gold.stem
        brief = gold.with_suffix(".txt")
        if not brief.exists():
            problems.append(f"{gold.name}: missing brief {brief.name}")
            continue
        with open(brief, encoding="utf-8", newline="") as f:
            text = f.read()
        answerable = unanswerable = 0
        with open(gold, encoding="utf-8", newline="") as f:
            lines = f.read().splitlines()
        for n, line in enumerate(lines, 1):
            where = f"{gold.name}:{n}"
            if not line.strip():
                problems.append(f"{where}: blank line")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: invalid JSON ({e})")
                continue
            if not isinstance(obj, dict) or set(obj) != {"id", "question", "evidence"}:
                problems.append(f"{where}: expected keys id, question, evidence")
                continue
            qid, question, evidence = obj["id"], obj["question"], obj["evidence"]
            if not isinstance(qid, str) or not qid.startswith(slug + "-"):
                problems.append(f"{where}: id {qid!r} does not start with {slug}-")
            if qid in seen_ids:
                problems.append(f"{where}: duplicate id {qid!r}")
            seen_ids.add(qid)
            if not isinstance(question, str) or not question.strip():
                problems.append(f"{where}: empty question")
            if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
                problems.append(f"{where}: evidence must be a list of strings")
                continue
            if not evidence:
                unanswerable += 1
                continue
            answerable += 1
            if len(evidence) > 3:
                problems.append(f"{where}: more than 3 evidence strings")
            for ev in evidence:
                if ev not in text:
                    problems.append(f"{where}: evidence not in {brief.name}: {ev!r}")
                if len(ev) < MIN_EVIDENCE_LEN:
                    problems.append(f"{where}: evidence shorter than {MIN_EVIDENCE_LEN} chars: {ev!r}")
                if "\n" in ev or "\r" in ev:
                    problems.append(f"{where}: evidence spans lines: {ev!r}")
        words = len(text.split())
        print(f"{slug}: {answerable} answerable / {unanswerable} not covered "
              f"({answerable + unanswerable} total), brief {words} words")
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
