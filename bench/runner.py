"""One benchmark run: start redis, run each scenario against each target, write results.

Targets take turns within each repeat (A, B, C, A, B, C, ...) so slow drifts in
the machine's load spread over all of them instead of favouring whoever ran first.
A target that cannot start is reported with the reason and skipped; the others
still run, so the run is useful before chatd's server exists.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import plots, results
from bench.config import Sizes
from bench.loadgen import GeneratorError
from bench.peercheck import check_peer
from bench.procs import StartError, start_redis
from bench.scenarios import PER_TARGET, STORE
from bench.scenarios.common import ScenarioContext, ScenarioError
from bench.scenarios.s6_store import run_store
from bench.sysutil import free_port, machine_facts, raise_nofile_limit
from bench.targets import RunEnv, Target, make_target
from bench.userpool import PoolError, mint_token

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


@dataclass(slots=True)
class RunOptions:
    sizes: Sizes
    scenarios: list[int]
    targets: list[str]
    generators: int
    repeat: int
    quick: bool
    out_dir: Path
    workdir: Path | None
    keep_workdir: bool
    python: str
    chatd_path: Path
    plots: bool
    command: str


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


async def run(opts: RunOptions) -> Path:
    nofile = raise_nofile_limit()
    # Scenario 6 imports chatd's store adapters in this process: from the same tree
    # the chatd targets run.
    sys.path.insert(0, str(opts.chatd_path))
    started = dt.datetime.now()
    stamp = started.strftime("%Y-%m-%d-%H%M%S")
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="chatd-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "meta": {"started": started.isoformat(timespec="seconds"), "command": opts.command,
                 "git_commit": _git_commit(), "quick": opts.quick, "machine": machine_facts(),
                 "workdir": str(workdir)},
        "config": {"sizes": asdict(opts.sizes), "scenarios": opts.scenarios,
                   "targets": opts.targets, "generator_processes": opts.generators,
                   "chatd_path": str(opts.chatd_path),
                   "repeat": opts.repeat},
        "targets": {name: {"scenarios": {}} for name in opts.targets},
    }
    _log(f"work dir {workdir}; open-file limit {nofile}; results -> {opts.out_dir}")
    redis_port = free_port()
    redis = await start_redis(workdir, redis_port)
    env = RunEnv(workdir, REPO_ROOT, opts.chatd_path, opts.python, f"redis://127.0.0.1:{redis_port}/0",
                 _workdir_secret(workdir))
    ctx = ScenarioContext(sizes=opts.sizes, generators=opts.generators, redis=redis,
                          run_tag=secrets.token_hex(2), log=_log, repo_root=REPO_ROOT)
    targets = {name: make_target(name, env) for name in opts.targets}
    broken: dict[str, str] = {}
    try:
        if "socketio" in targets:
            doc["peer_check"] = await _peer_check(targets["socketio"], env.secret)
        for rep in range(opts.repeat):
            # Fresh rooms and users per repeat: nothing carries over between runs.
            ctx.run_tag = secrets.token_hex(2)
            for num in [n for n in opts.scenarios if n in PER_TARGET]:
                title, fn = PER_TARGET[num]
                for name, target in targets.items():
                    entry = doc["targets"][name]["scenarios"].setdefault(
                        str(num), {"title": title, "runs": []})
                    entry["runs"].append(
                        await _one(ctx, target, num, title, fn, rep, broken))
                    entry["median"] = results.median_summary(entry["runs"])
                    results.write(doc, opts.out_dir / f"{stamp}.json")  # progress survives
        if STORE in opts.scenarios:
            _log("scenario 6: store throughput")
            doc["store"] = await run_store(ctx, workdir)
    finally:
        await redis.stop()
        for t in targets.values():
            await t.stop()
        doc["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        doc["meta"]["wall_s"] = round((dt.datetime.now() - started).total_seconds(), 1)
        path = opts.out_dir / f"{stamp}.json"
        results.write(doc, path)
        if opts.plots:
            made = plots.render_all(doc, opts.out_dir / stamp)
            doc["meta"]["plots"] = [str(p.relative_to(opts.out_dir)) for p in made]
            results.write(doc, path)
        if not opts.keep_workdir and opts.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(results.table(doc))
    print(f"\nresults: {path}")
    return path


async def _one(ctx: ScenarioContext, target: Target, num: int, title: str, fn: Any, rep: int,
               broken: dict[str, str]) -> dict[str, Any]:
    label = f"scenario {num} ({title}) on {target.name}, run {rep + 1}"
    if num in target.unsupported:
        _log(f"{label}: skipped: {target.unsupported[num]}")
        return {"status": "skipped", "reason": target.unsupported[num]}
    if target.name in broken:
        return {"status": "not run", "reason": f"target failed to start earlier: "
                                               f"{broken[target.name].splitlines()[0]}"}
    _log(label)
    t0 = time.monotonic()
    try:
        res: dict[str, Any] = await fn(ctx, target)
        res["status"] = "ok"
    except StartError as exc:
        broken[target.name] = str(exc)
        _log(f"{label}: FAILED TO START\n{exc}")
        res = {"status": "failed", "error": str(exc)}
    except (ScenarioError, GeneratorError, PoolError) as exc:
        _log(f"{label}: failed: {exc}")
        res = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # a harness bug: keep the traceback in the results
        _log(f"{label}: harness error: {type(exc).__name__}: {exc}")
        res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()}
    finally:
        await target.stop()
    res["seconds"] = round(time.monotonic() - t0, 1)
    return res


def _workdir_secret(workdir: Path) -> str:
    """The signing key of this work dir: kept beside the user pool it cached, whose
    tokens it signed, so a later run with the same --workdir can still use them."""
    path = workdir / "secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


async def _peer_check(target: Target, secret: str) -> dict[str, Any]:
    _log("checking the peer with the official python-socketio client")
    try:
        await target.start(1)
        res = await check_peer(target, mint_token(secret, "check-user", "checkuser"))
    except Exception as exc:
        res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        await target.stop()
    _log(f"  peer check: {'ok' if res.get('ok') else 'FAILED'} {res}")
    return res


def default_out_dir(quick: bool) -> Path:
    return BENCH_DIR / "results" / ("quick" if quick else "")


def python_for_targets() -> str:
    return sys.executable
