#!/usr/bin/env python3
"""Summarizes a manifest checker's JSON report for hack/lint.sh.

    findings.py kube-score REPORT.json KEPT_CHECK_ID...
    findings.py checkov REPORT.json .checkov.yaml

Prints one line per finding: "kept" for a finding kept on purpose (kube-score: a check id
given on the command line; checkov: one listed under soft-fail-on in its config file),
"FINDING" for any other. The last line counts them. Exits 1 if any finding is not kept.
Run it with the checkov venv's python, which has PyYAML.
"""

import json
import sys


def kube_score(report, kept):
    findings, silenced, passed = [], 0, 0
    for obj in report:
        name = obj["object_name"]
        for check in obj["checks"]:
            check_id = check["check"]["id"]
            comments = [c.get("summary", "") for c in check.get("comments") or []]
            if check.get("skipped"):
                # Optional checks, off unless asked for, are reported as ignored too.
                if not check["check"].get("optional") and any("is ignored" in c for c in comments):
                    silenced += 1
                continue
            # Grades: 10 ok, 7 almost ok, 5 warning, 1 critical.
            if check["grade"] >= 10:
                passed += 1
                continue
            findings.append((check_id in kept, f"{check_id} on {name}: {'; '.join(comments)}"))
    return findings, silenced, passed


def checkov(report, config_path):
    import yaml

    with open(config_path) as f:
        config = yaml.safe_load(f)
    kept = set(config.get("soft-fail-on") or [])
    silenced = len(config.get("skip-check") or [])
    reports = report if isinstance(report, list) else [report]
    findings, passed = [], 0
    for rep in reports:
        results = rep.get("results", {})
        passed += rep.get("summary", {}).get("passed", 0)
        for check in results.get("failed_checks", []):
            resource = ".".join(check["resource"].split(".")[:3])  # kind.namespace.name
            text = f"{check['check_id']} on {resource}: {check['check_name']}"
            findings.append((check["check_id"] in kept, text))
    return findings, silenced, passed


def main():
    tool, path, *kept = sys.argv[1:]
    with open(path) as f:
        text = f.read()
    report = json.loads(text) if text.strip() else []
    if tool == "kube-score":
        findings, silenced, passed = kube_score(report, set(kept))
        where = "results silenced by kube-score/ignore annotations"
    else:
        findings, silenced, passed = checkov(report, kept[0])
        where = f"checks silenced in {kept[0]}"
    for is_kept, text in findings:
        print(f"{'kept' if is_kept else 'FINDING'}: {text}")
    kept_n = sum(1 for k, _ in findings if k)
    bad = len(findings) - kept_n
    print(f"{passed} passed, {bad} findings, {kept_n} kept; {silenced} {where}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
