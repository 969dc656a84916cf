"""Forgeries against a runner: how many of each earn ``passed``.

Judges every forgery of ``tests/sandbox/test_forgeries.py`` (one job each) and the generic ones over
every problem of HumanEval (164) and the KodCode sample (152), with the local executor of the
``sandbox`` package on ``sys.path``. Run it against this tree and against an older one to
compare (the older tree needs only this file and ``tests/sandbox/test_forgeries.py`` copied in)::

    .venv/bin/python bench/bench_forgeries.py --label now
    git worktree add /tmp/old de518f5 && cp bench/bench_forgeries.py /tmp/old/bench/ \\
        && cp tests/sandbox/test_forgeries.py /tmp/old/tests/
    (cd /tmp/old && PYTHONPATH=/tmp/old GCOP_TEST_SHARED_DATA=$PWD/../shared/data \\
        /path/to/.venv/bin/python bench/bench_forgeries.py --label de518f5 --out $OLDPWD/reports/benchmarks/forgeries.json)

Merges its column into ``reports/benchmarks/forgeries.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcop.sandbox.protocol import Status  # noqa: E402
from tests.sandbox.test_forgeries import FORGERIES, _forgery_job, _generic_jobs  # noqa: E402
from tests.sandbox.test_sandbox_attacks import IN_PROCESS_FORGERIES, WRONG_ADD, humaneval_job, pytest_job, run_jobs  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", required=True, help="the column's name (a commit, 'now')")
    parser.add_argument("--executor", default="local", choices=["local", "docker"])
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "forgeries.json"))
    args = parser.parse_args(argv)

    jobs = [_forgery_job(name, *spec) for name, spec in FORGERIES.items()]
    # stealing the nonce from the frames needs the frame of the runner's _child, which the
    # HumanEval path has (pytest-style jobs of the fork server do not)
    jobs += [
        (humaneval_job if name == "steal-nonce-from-frame" else pytest_job)(WRONG_ADD + code, id=f"in-process-{name}")
        for name, code in IN_PROCESS_FORGERIES.items()
    ]
    verdicts = run_jobs(args.executor, jobs, workers=2)
    column: dict = {"forgeries": {job.id: verdict.status.value for job, verdict in zip(jobs, verdicts, strict=False)}}
    column["forgeries_passed"] = sum(v.status is Status.PASSED for v in verdicts)
    column["forgeries_total"] = len(jobs)
    generic = {}
    for attack in ("anything", "read-tests", "runtest", "compile"):
        attack_jobs = _generic_jobs(attack)
        attack_verdicts = run_jobs(args.executor, attack_jobs, workers=2)
        for prefix, name in (("he-", "humaneval"), ("kc-", "kodcode")):
            chosen = [v for j, v in zip(attack_jobs, attack_verdicts, strict=False) if j.id.startswith(prefix)]
            if chosen:
                generic[f"{attack} / {name}"] = {
                    "passed": sum(v.status is Status.PASSED for v in chosen), "problems": len(chosen),
                }
    column["generic"] = generic
    out = Path(args.out)
    table = json.loads(out.read_text()) if out.exists() else {}
    table[args.label] = column
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print(json.dumps(column, indent=2))
    return column


if __name__ == "__main__":
    main()
