"""``gcop grid``, ``gcop leaderboard``, ``gcop regress``, ``gcop executability``: running the
paper's table rows and reading the results back from Inspect logs (see ``results/``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from gcop.evals.benchmarks import BenchmarkChoices

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_data_option, add_docker_host_option


def _key_values(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` options (:func:`gcop.readers.key_value`: YAML scalars, as Inspect's ``-T``/``-M``)."""
    from gcop.readers import key_value

    return dict(key_value(item, flag=flag) for item in items or [])


def _startup_errors() -> tuple[type[Exception], ...]:
    """Inspect's error for a run that cannot start (e.g. a log folder holding other runs' logs).
    Private: Inspect exports no name for it; if it moves, such errors surface as tracebacks."""
    try:
        from inspect_ai._util.error import PrerequisiteError
    except ImportError:
        return ()
    return (PrerequisiteError,)


def _fail(name: str, message: str) -> int:
    print(f"gcop {name}: {message}", file=sys.stderr)
    return EXIT_USAGE


# --------------------------------------------------------------------------- grid


def register_grid(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "grid",
        help="run the rows of the paper's tables for a benchmark as one resumable Inspect eval_set",
        description=(
            "Run, as one Inspect eval_set, the rows of a results table: the core alone, the core with "
            "in-context examples (--icl), reference cores alone (--reference-core), and the core guided by "
            "each named guide (--guide NAME=MODEL). Each row's recipe and guide name are written to its "
            "log (task metadata 'gcop_grid'), which `gcop leaderboard` reads. Re-running the same command "
            "skips finished rows, retries failed ones (re-using their completed samples) and runs new ones."
        ),
        epilog=(
            "examples:\n"
            "  gcop grid --benchmark gsm8k --core anthropic/claude-haiku-4-5 --icl \\\n"
            "      --reference-core anthropic/claude-sonnet-5-5 \\\n"
            "      --guide none=vllm/Qwen/Qwen3-1.7B --guide sft=hf/ckpt/sft --limit 500\n"
            "  gcop grid --benchmark humaneval --core gcop/reference --guide ref=gcop/reference -T executor=local\n"
            "  gcop grid --benchmark gsm8k --core gcop/replay -M path=completions.jsonl --guide g=gcop/reference\n"
            "  gcop grid --benchmark gsm8k --core anthropic/claude-haiku-4-5 --cascade anthropic/claude-sonnet-5-5 \\\n"
            "      --memory --cascade-threshold 0.5 --cascade-threshold 1.0 --limit 200\n"
            "  gcop grid --task inspect_evals/mbpp --core anthropic/claude-haiku-4-5 --guide sft=vllm/ckpt/sft \\\n"
            "      -S domain=code --cascade anthropic/claude-sonnet-5-5 --limit 100\n\n"
            "exit codes: 0 every row complete; 1 some row failed (re-run to retry it); 2 usage error,\n"
            "or a log folder made with another --limit/--epochs/-T (use another --log-dir)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--benchmark", choices=BenchmarkChoices(), metavar="BENCHMARK",
                       help="one of gcop's benchmarks: %(choices)s")
    which.add_argument("--task", metavar="TASK",
                       help="a task gcop did not write (inspect_evals/mbpp, FILE.py@TASK): the rows run gcop's drop-in "
                            "solvers around the task's own solver, its scorer scoring (core, --icl, --guide, --cascade)")
    parser.add_argument("--core", default=None, metavar="MODEL",
                        help="the core model (default anthropic/claude-haiku-4-5, see results/models.yaml)")
    parser.add_argument("-M", "--model-arg", action="append", metavar="KEY=VALUE", help="model argument for the core (repeatable)")
    parser.add_argument("--icl", action="store_true", help="add the core + ICL row (icl_k retrieved train examples)")
    parser.add_argument("--reference-core", action="append", default=[], metavar="MODEL",
                        help="a reference core run alone (repeatable)")
    parser.add_argument("--guide", action="append", default=[], metavar="NAME=MODEL",
                        help="a guided row: the core guided by MODEL, shown as NAME (repeatable)")
    parser.add_argument("-G", "--guide-arg", action="append", metavar="KEY=VALUE",
                        help="model argument for every guide model (repeatable)")
    parser.add_argument("--cascade", default=None, metavar="MODEL",
                        help="add cascade rows: the core escalates to MODEL (the strong role) when the deferral rule's "
                             "confidence is below the threshold; with --guide, each guide's row as a cascade too")
    parser.add_argument("--memory", action="store_true",
                        help="add Inter-Cascade rows (mode=memory): MODEL also writes strategies the core retrieves")
    parser.add_argument("--cascade-threshold", action="append", type=float, default=None, metavar="T",
                        help="a cascade threshold (repeatable: a sweep, drawn as a curve; default 1.0)")
    parser.add_argument("--cascade-rule", default="agreement", choices=("agreement", "examples"),
                        help="the deferral rule (examples: code benchmarks, the statement's examples in the sandbox)")
    parser.add_argument("--cascade-k", type=int, default=None, metavar="K",
                        help="cheap-core samples the rule reads (default 3 for agreement, 1 for examples)")
    foreign = parser.add_argument_group("with --task")
    foreign.add_argument("-S", "--solver-arg", action="append", metavar="KEY=VALUE",
                         help="option of gcop/guided for the guided rows (domain, max_strategy_tokens, max_guide_tokens, "
                              "on_invalid, guide_prompt; repeatable)")
    foreign.add_argument("--icl-examples", default=None, metavar="FILE",
                         help="the ICL row's solved examples (the task's train split), JSONL or CSV")
    foreign.add_argument("--icl-k", type=int, default=3, metavar="K", help="examples shown per problem (default 3)")
    foreign.add_argument("--icl-input-field", default="input", metavar="NAME", help="the examples' problem field")
    foreign.add_argument("--icl-target-field", default="target", metavar="NAME", help="the examples' answer field")
    parser.add_argument("--log-dir", default=None, metavar="DIR",
                        help="the eval set's log folder (default logs/grid-BENCHMARK, or logs/grid-TASK)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N problems of the split")
    parser.add_argument("--epochs", type=int, default=None, metavar="K", help="epochs per sample (default 1)")
    parser.add_argument("-T", "--task-arg", action="append", metavar="KEY=VALUE",
                        help="task option for every row, as `inspect eval -T` (split, icl_k, sandbox, executor, ...)")
    parser.add_argument("--executor", choices=("docker", "local"), default=None,
                        help="shorthand for -T executor=... (code benchmarks)")
    add_docker_host_option(parser)
    add_data_option(parser)
    parser.add_argument("--max-samples", type=int, default=None, metavar="N", help="samples run at once per row")
    parser.add_argument("--max-tasks", type=int, default=None, metavar="N", help="rows run at once")
    parser.add_argument("--retry-attempts", type=int, default=None, metavar="N", help="eval_set's retries of failed rows in this run")
    parser.add_argument("--retry-wait", type=float, default=None, metavar="S", help="seconds before the first retry")
    parser.add_argument("--display", default=None, choices=("full", "rich", "plain", "log", "none"), help="Inspect's display")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="let the log folder hold logs of other runs (eval_set refuses them otherwise)")
    parser.add_argument("--dry-run", action="store_true", help="list the rows and exit")
    parser.add_argument("--estimate", action="store_true",
                        help="run a pilot of --limit problems (default 5) per row in LOG_DIR-pilot, print the expected $ "
                             "of each row's full run, and stop")
    parser.add_argument("--no-preflight-calls", action="store_true",
                        help="skip the one short test call per remote model before the grid (names are checked anyway)")
    parser.set_defaults(func=_grid)


def _grid(args: argparse.Namespace) -> int:
    from gcop.results.grid import DEFAULT_CORE, ForeignOptions, GridConfigError, default_log_dir, foreign_cascade, plan_rows, run_grid

    try:
        task_args = _key_values(args.task_arg, "-T")
        core_args = _key_values(args.model_arg, "-M")
        guide_args = _key_values(args.guide_arg, "-G")
        solver_args = _key_values(args.solver_arg, "-S")
        guides = []
        for item in args.guide:
            name, sep, model = item.partition("=")
            if not sep or not name or not model:
                raise ValueError(f"--guide takes NAME=MODEL, got {item!r}")
            guides.append((name, model))
    except ValueError as exc:
        return _fail("grid", str(exc))
    name = args.benchmark or args.task
    foreign = None
    if args.task:
        if args.executor or args.data_dir:
            return _fail("grid", "--executor and --data-dir are options of gcop's benchmarks; a --task takes its own -T")
        foreign = ForeignOptions(guided=solver_args, icl_examples=args.icl_examples, icl_k=args.icl_k,
                                 icl_input_field=args.icl_input_field, icl_target_field=args.icl_target_field)
        if args.icl and not args.icl_examples:
            return _fail("grid", f"--icl on --task {args.task} needs --icl-examples FILE (solved examples of the task, "
                                 "e.g. its train split, as JSONL or CSV)")
    elif solver_args or args.icl_examples:
        return _fail("grid", "-S and --icl-examples are for --task; gcop's benchmarks take -T options")
    if args.executor:
        task_args["executor"] = args.executor
    if args.data_dir:
        task_args["data_dir"] = args.data_dir
    core = args.core or DEFAULT_CORE
    if args.memory and not args.cascade:
        return _fail("grid", "--memory needs --cascade MODEL (the strong model that answers and writes the strategies)")
    from gcop.results.grid import CascadePlan

    cascade = CascadePlan(strong=args.cascade, thresholds=tuple(args.cascade_threshold or (1.0,)), rule=args.cascade_rule,
                          k=args.cascade_k, memory=args.memory) if args.cascade else None
    try:
        if foreign is not None:
            cascade = foreign_cascade(cascade, args.task)
            foreign.check(icl=args.icl)
        rows = plan_rows(core, icl=args.icl, reference_cores=args.reference_core, guides=guides, cascade=cascade)
    except GridConfigError as exc:
        return _fail("grid", str(exc))
    args.cascade_plan = cascade
    args.foreign = foreign
    args.name = name
    log_dir = args.log_dir or default_log_dir(name)
    print(f"grid for {name}: {len(rows)} row(s) -> {log_dir}")
    for row in rows:
        print(f"  {row.recipe:<15} {row.name}")
    if args.dry_run:
        return EXIT_OK
    from gcop.preflight import PreflightError, preflight

    models = {"core": core, **{f"strong {i + 1}": m for i, m in enumerate(args.reference_core)},
              **{f"guide {name}": m for name, m in guides}, **({"strong": args.cascade} if args.cascade else {})}
    try:
        report = preflight(models, live=not args.no_preflight_calls,
                           model_args={"core": core_args, **{f"guide {n}": guide_args for n, _ in guides}})
    except PreflightError as exc:
        return _fail("grid", str(exc))
    if report.live_calls or report.warnings:
        print(report.format())
    kwargs = {k: v for k, v in {
        "max_samples": args.max_samples, "max_tasks": args.max_tasks, "retry_attempts": args.retry_attempts,
        "retry_wait": args.retry_wait, "display": args.display,
        "log_dir_allow_dirty": True if args.allow_dirty else None,
    }.items() if v is not None}
    if args.estimate:
        return _grid_estimate(args, core, guides, log_dir, task_args, core_args, guide_args, kwargs)
    try:
        result = run_grid(
            name, core, icl=args.icl, reference_cores=args.reference_core, guides=guides,
            log_dir=log_dir, limit=args.limit, epochs=args.epochs, task_args=task_args,
            core_args=core_args, guide_args=guide_args, cascade=cascade, foreign=foreign, **kwargs,
        )
    except (GridConfigError, TypeError, ValueError, *_startup_errors()) as exc:  # type: ignore[misc]  # a tuple built at run time
        import re

        message = re.sub(r"\[/?[a-z ]+\]", "", str(exc)).replace("--log-dir-allow-dirty", "--allow-dirty")
        return _fail("grid", " ".join(message.split()).removeprefix("ERROR: "))
    print(result.summary())
    if result.success:
        print(f"all rows complete: gcop leaderboard {log_dir}")
        return EXIT_OK
    print("some rows did not complete: run the same command again to retry them", file=sys.stderr)
    return EXIT_FAILED


def _grid_estimate(args: argparse.Namespace, core: str, guides: list, log_dir: str, task_args: dict,
                   core_args: dict, guide_args: dict, kwargs: dict) -> int:
    from gcop.results.grid import GridConfigError, estimate_rows, format_estimates, run_grid

    pilot = args.limit or 5
    pilot_dir = f"{log_dir.rstrip('/')}-pilot"
    print(f"estimate: a pilot of {pilot} problem(s) per row -> {pilot_dir}")
    try:
        result = run_grid(args.name, core, icl=args.icl, reference_cores=args.reference_core, guides=guides,
                          log_dir=pilot_dir, limit=pilot, epochs=args.epochs, task_args=task_args,
                          core_args=core_args, guide_args=guide_args, cascade=args.cascade_plan,
                          foreign=args.foreign, **kwargs)
    except (GridConfigError, TypeError, ValueError, *_startup_errors()) as exc:  # type: ignore[misc]  # as above
        return _fail("grid", " ".join(str(exc).split()))
    if not result.success:
        print(result.summary())
        print("the pilot did not complete: run the same command again to retry it", file=sys.stderr)
        return EXIT_FAILED
    # the pilot's own tasks hold every sample (the pilot limit is eval_set's): the full run's prompts
    by_row = {(log.eval.metadata or {}).get("gcop_grid", {}).get("row"): log for log in result.logs}
    logs = [by_row[row.name] for row in result.rows]
    print(format_estimates(estimate_rows(args.name, logs, result.tasks, pilot=pilot, epochs=args.epochs)))
    print(f"run it: the same command without --estimate{' and --limit' if args.limit else ''}")
    return EXIT_OK


# --------------------------------------------------------------------------- leaderboard


def register_leaderboard(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "leaderboard",
        help="leaderboard (md, json, sortable html, accuracy-vs-cost plot) from a folder of logs",
        description=(
            "Read every gcop log under LOG_DIR and write leaderboard.md, leaderboard.json, leaderboard.html "
            "(static, sortable by any column, plot embedded) and the plot of accuracy against total "
            "inference cost ($ per 1,000 problems) with the Pareto frontier (leaderboard.svg, and "
            "leaderboard.png when matplotlib is installed). One row per (benchmark, split, core, guide, "
            "recipe); rows from different data revisions or prompt versions are marked and never pooled."
        ),
    )
    parser.add_argument("log_dir", nargs="+", metavar="LOG_DIR", help="folder(s) or log file(s)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default LOG_DIR/leaderboard, for the first LOG_DIR; the committed "
                             "reports/ is written only when asked: --out reports)")
    parser.add_argument("--no-matplotlib", action="store_true", help="write the hand-made SVG plot even if matplotlib is installed")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    parser.add_argument("--note", default=None, metavar="TEXT",
                        help="how the runs were produced (command, models), shown above the table")
    parser.set_defaults(func=_leaderboard)


def _leaderboard(args: argparse.Namespace) -> int:
    from gcop.results.leaderboard import build_leaderboard, to_markdown, write_leaderboard
    from gcop.results.logs import LogError

    try:
        board = build_leaderboard(args.log_dir, note=args.note)
    except LogError as exc:
        return _fail("leaderboard", str(exc))
    first = args.log_dir[0]
    out = args.out or os.path.join(first if os.path.isdir(first) else os.path.dirname(first) or ".", "leaderboard")
    written = write_leaderboard(board, out, use_matplotlib=not args.no_matplotlib)
    if not args.quiet:
        print(to_markdown(board))
    for warning in board.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in written.values()))
    if not board.rows:
        print("gcop leaderboard: no complete gcop logs found", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


# --------------------------------------------------------------------------- regress


def register_regress(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "regress",
        help="regression gate: paired exact McNemar test and cost change between two logs",
        description=(
            "Compare a candidate run with a baseline run of the same evaluation, sample by sample on "
            "(id, epoch). Fails (exit 1) on a significant accuracy drop -- drop > --max-drop points AND "
            "exact McNemar p < --alpha -- or a total cost increase over --max-cost-increase percent. "
            "Refuses (exit 2) logs with different sample sets, data revisions or benchmarks, incomplete "
            "logs and logs with errored samples. Prints a markdown summary, also appended to "
            "$GITHUB_STEP_SUMMARY when set."
        ),
        epilog="exit codes: 0 pass; 1 regression or cost over the limit; 2 comparison refused or usage error",
    )
    parser.add_argument("--baseline", required=True, metavar="A.eval", help="baseline log (or a folder with one log)")
    parser.add_argument("--candidate", required=True, metavar="B.eval", help="candidate log (or a folder with one log)")
    parser.add_argument("--max-drop", type=float, default=0.0, metavar="POINTS",
                        help="tolerated accuracy drop in percentage points (default 0: any significant drop fails)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level of the McNemar test (default 0.05)")
    parser.add_argument("--one-sided", action="store_true", help="one-sided test (H1: the candidate is worse) instead of two-sided")
    parser.add_argument("--max-cost-increase", type=float, default=None, metavar="PCT",
                        help="fail when the total $ per problem rises by more than PCT percent (default: not gated)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    parser.add_argument("--summary", default=None, metavar="PATH", help="also append the markdown summary to PATH")
    parser.set_defaults(func=_regress)


def _regress(args: argparse.Namespace) -> int:
    from gcop.results.logs import LogError
    from gcop.results.regress import EXIT_REFUSED, compare_logs, write_json, write_step_summary

    try:
        result = compare_logs(args.baseline, args.candidate, max_drop=args.max_drop, alpha=args.alpha,
                              max_cost_increase=args.max_cost_increase, one_sided=args.one_sided)
    except (LogError, ValueError) as exc:
        message = f"## gcop regression gate: **REFUSED**\n\n{exc}\n"
        print(f"gcop regress: comparison refused: {exc}", file=sys.stderr)
        write_step_summary(message)
        if args.summary:
            write_step_summary(message, args.summary)
        return EXIT_REFUSED
    markdown = result.markdown()
    print(markdown)
    write_step_summary(markdown)
    if args.summary:
        write_step_summary(markdown, args.summary)
    if args.json:
        write_json(result, args.json)
    return result.exit_code


# --------------------------------------------------------------------------- executability


def register_executability(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "executability",
        help="guide-averaged executability alpha(x) and the value-gap term 2*H*R_max*E[1-alpha]",
        description=(
            "From a guided run, estimate each problem's guide-averaged executability alpha(x) (the chance "
            "that the core solves the problem with a strategy drawn from the guide), show its distribution, "
            "and the value-gap bound term 2*H*R_max*E[1-alpha] with a 95% interval. Samples (epochs) are "
            "grouped by the strategy text the core received: M = distinct strategies per problem, K = "
            "executions per strategy. A run with --epochs M gives K = 1; for K > 1, --write-replay writes a "
            "gcop/replay guide file that replays each recorded strategy K times (see results/executability.py)."
        ),
        epilog=(
            "design B (K executions per strategy):\n"
            "  gcop executability run.eval --write-replay guide.jsonl --k 4\n"
            "  GCOP_REPLAY_PATH=guide.jsonl inspect eval gcop/gsm8k --model CORE \\\n"
            "      --model-role guide=gcop/replay -T mode=guided --epochs $((M*4))\n"
            "  gcop executability logs/<that run>.eval"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("log", metavar="LOG", help="a guided run's log (or a folder with one log)")
    parser.add_argument("--H", "--horizon", dest="horizon", type=float, default=1.0, help="horizon H (default 1)")
    parser.add_argument("--R-max", "--r-max", dest="r_max", type=float, default=1.0, help="largest reward R_max (default 1)")
    parser.add_argument("--invalid", choices=("failure", "exclude"), default="failure",
                        help="an invalid strategy counts as a failed execution (default) or is left out")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write estimates (per problem too) as JSON")
    parser.add_argument("--write-replay", default=None, metavar="PATH",
                        help="write a gcop/replay guide file replaying each recorded strategy --k times, and exit")
    parser.add_argument("--k", type=int, default=4, help="executions per strategy for --write-replay (default 4)")
    parser.set_defaults(func=_executability)


def _executability(args: argparse.Namespace) -> int:
    import json

    from gcop.results.executability import estimate, write_replay
    from gcop.results.logs import LogError

    try:
        if args.write_replay:
            lines = write_replay(args.log, args.write_replay, args.k)
            print(f"wrote {lines} guide records to {args.write_replay} (each recorded strategy for {args.k} epochs)")
            return EXIT_OK
        report = estimate(args.log, invalid=args.invalid, horizon=args.horizon, r_max=args.r_max)
    except (LogError, ValueError) as exc:
        return _fail("executability", str(exc))
    print(report.format())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=2)
            f.write("\n")
    return EXIT_OK if report.problems else EXIT_FAILED
