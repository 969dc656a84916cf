"""Turn KodCode's recorded trials into a `gcop/replay` file, so a real model's recorded KodCode
solutions can be re-scored by the KodCode Inspect task at no API cost.

    python scripts/kodcode_trial_replay.py ../shared/data/kodcode/kodcode_sample.jsonl out.jsonl [--trial 0]

KodCode's trials in the sample were written by Qwen2.5 (named ``trial_qwen2.5_0``, ``_1``, ``_2``).
One line per problem that has the requested trial: {"id": question_id, "completion": the trial's
solution in a python block}. Problems without that trial are left out (the eval then marks them as
errors, which the leaderboard counts apart), and the script says how many.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sample", type=Path, help="kodcode_sample.jsonl (with 'trials')")
    parser.add_argument("out", type=Path, help="the replay file to write")
    parser.add_argument("--trial", type=int, default=0, help="which recorded trial: N picks the one named *_N (default 0)")
    args = parser.parse_args(argv)
    written = missing = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for number, line in enumerate(args.sample.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                problem = json.loads(line)
                trials = {int(str(t["trial"]).rsplit("_", 1)[1]): t for t in problem.get("trials") or []}
                qid = problem["question_id"]
            except (ValueError, KeyError, TypeError) as exc:
                print(f"{args.sample}:{number}: skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            trial = trials.get(args.trial)
            if trial is None:
                missing += 1
                continue
            completion = f"```python\n{trial['solution_code'].rstrip()}\n```"
            out.write(json.dumps({"id": qid, "completion": completion}) + "\n")
            written += 1
    print(f"wrote {written} completions (trial {args.trial}) to {args.out}; {missing} problems have no such trial")
    return 0


if __name__ == "__main__":
    sys.exit(main())
