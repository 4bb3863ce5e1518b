"""`python -m bench` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path

from bench import config, plots
from bench.runner import REPO_ROOT, RunOptions, default_out_dir, python_for_targets, run
from bench.scenarios import ALL
from bench.targets import TARGET_NAMES


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _name_list(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in TARGET_NAMES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown target(s) {bad}; choose from {TARGET_NAMES}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="chatd benchmark harness")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run scenarios against targets and write results")
    r.add_argument("--quick", action="store_true",
                   help="small sizes, whole run well under 2 minutes (CI smoke)")
    r.add_argument("--scenarios", type=_int_list, default=list(ALL),
                   help="comma list of scenario numbers (default: 1,2,3,4,5,6)")
    r.add_argument("--targets", type=_name_list, default=list(TARGET_NAMES),
                   help=f"comma list from {','.join(TARGET_NAMES)} (default: all)")
    r.add_argument("--generators", type=int, default=1,
                   help="generator processes (their histograms are merged); run with 1 "
                        "and 2 to show the generator is not the bottleneck")
    r.add_argument("--repeat", type=int, default=1,
                   help="runs per scenario and target; the table shows medians")
    r.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a size, e.g. --set s3_conns=500 (see bench/config.py)")
    r.add_argument("--out", type=Path, default=None,
                   help="results directory (default bench/results, or bench/results/quick)")
    r.add_argument("--workdir", type=Path, default=None,
                   help="keep data dirs, logs and the user pool here (default: a temp dir, "
                        "removed afterwards)")
    r.add_argument("--keep-workdir", action="store_true", help="do not delete the temp dir")
    r.add_argument("--python", default=python_for_targets(),
                   help="interpreter that runs chatd (needs chatd's dependencies); the "
                        "peer always runs on the bench's own")
    r.add_argument("--chatd-path", type=Path, default=REPO_ROOT,
                   help="directory `python -m chatd` is imported from (default: this "
                        "checkout); point it at another checkout to compare versions")
    r.add_argument("--no-plots", action="store_true")

    pl = sub.add_parser("plot", help="re-draw the plots of a results file")
    pl.add_argument("results", type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "plot":
        doc = json.loads(args.results.read_text())
        made = plots.render_all(doc, args.results.with_suffix(""))
        print("\n".join(str(m) for m in made))
        return 0
    sizes = config.QUICK if args.quick else config.FULL
    try:
        sizes = config.with_overrides(sizes, args.set)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    opts = RunOptions(
        sizes=sizes, scenarios=args.scenarios, targets=args.targets,
        generators=args.generators, repeat=max(1, args.repeat), quick=args.quick,
        out_dir=args.out or default_out_dir(args.quick), workdir=args.workdir,
        keep_workdir=args.keep_workdir, python=args.python,
        chatd_path=args.chatd_path.resolve(), plots=not args.no_plots,
        command="python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
    )
    asyncio.run(run(opts))
    return 0
