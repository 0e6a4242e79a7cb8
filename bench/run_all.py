"""Runs the benchmarks behind the README's headline figures and writes them into the README.

Each benchmark runs in its own process, exactly as it runs alone, and writes its JSON to
`bench/results/`; this script reads them back, renders one markdown section with the targets
the issues set, writes it to `bench/results/run-all-<date>.md` (and the figures to `.json`),
and replaces the part of README.md between the two `bench/run_all.py` markers.

- write path (`bench/write_path.py`): commands/s at 1 and 16 clients against raw one-row
  commits at the same concurrency, p50/p99 latency, projection lag;
- read side at scale (`bench/queries.py`): query p50/p99 at two sizes, the query process's
  peak RSS, and the generator's events/s. At 1,000,000 interactions this takes the better
  part of an hour; `--reuse-queries` renders the newest recorded run instead (its date shown).

    .venv/bin/python bench/run_all.py [--interactions 1000000] [--reuse-queries] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, fmt, markdown_table, utc_stamp

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN = "<!-- bench/run_all.py: begin (generated, do not edit by hand) -->"
END = "<!-- bench/run_all.py: end -->"
COMMANDS_VS_RAW_TARGET = 0.5
LAG_P99_TARGET_MS = 100.0


def run(script: str, *args: str) -> Path:
    """Runs bench/<script> with its output shown; the path of the JSON it wrote."""
    command = [sys.executable, str(ROOT / "bench" / script), *args]
    print("$", " ".join(command[1:]), flush=True)
    written = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print("  " + line, end="", flush=True)
            if line.startswith("written "):
                written = Path(line.removeprefix("written ").strip())
    if process.returncode != 0 or written is None:
        sys.exit(f"{script} failed (exit {process.returncode})")
    return written


def newest(prefix: str) -> Path:
    found = sorted(RESULTS.glob(f"{prefix}-*.json"), key=lambda path: path.stat().st_mtime)
    if not found:
        sys.exit(f"no recorded {prefix} run in {RESULTS}: run without --reuse-queries")
    return found[-1]


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def write_path_section(report: dict[str, Any]) -> str:
    rows = []
    for r in report["runs"]:
        rows.append(
            [r["clients"], r["processes"], r["errors"], fmt(r["commands_per_s"]),
             fmt(r["p50_ms"], 1), fmt(r["p99_ms"], 1), fmt(r["raw_commits_per_s"]),
             fmt(r["commands_vs_raw"], 2), fmt(r["library_default_vs_raw"], 2),
             fmt(r["lag_p50_ms"], 1), fmt(r["lag_p99_ms"], 1)]
        )  # fmt: skip
    table = markdown_table(
        ["clients", "processes", "errors", "commands/s", "p50 ms", "p99 ms", "raw commits/s",
         "÷ raw", "library default ÷ raw", "lag p50 ms", "lag p99 ms"],
        rows,
    )  # fmt: skip
    top = max(report["runs"], key=lambda r: r["clients"])
    ratio_ok = top["commands_vs_raw"] >= COMMANDS_VS_RAW_TARGET
    lag_ok = top["lag_p99_ms"] < LAG_P99_TARGET_MS
    return "\n".join(
        [
            f"#### Write path (`bench/write_path.py`, {report['seconds']:.0f} s per level)",
            "",
            "Agents adding internal notes to emails they own (load, decide, save one event), "
            "spread over worker processes; the parent keeps every view caught up and records "
            "when each command became visible in all of them (lag). Raw: one-row INSERT + "
            "COMMIT per call at the same concurrency, same database, same run.",
            "",
            table,
            "",
            f"At {top['clients']} clients: {top['commands_vs_raw']:.2f} of raw "
            f"(target ≥ {COMMANDS_VS_RAW_TARGET}: {verdict(ratio_ok)}), "
            f"lag p99 {top['lag_p99_ms']:.0f} ms (target < {LAG_P99_TARGET_MS:.0f} ms: "
            f"{verdict(lag_ok)}).",
        ]
    )


def queries_section(report: dict[str, Any], recorded: str) -> str:
    small, large = report["probe_small"], report["probe_large"]
    targets = report.get("targets_p99_ms", {"timeline": 10, "inbox": 10, "free_text": 50})
    names = [name for name in large if isinstance(large[name], dict)]
    rows = []
    for name in names:
        target = targets.get(name)
        met = "-" if target is None else verdict(large[name]["p99_ms"] < target)
        rows.append(
            [name, fmt(small[name]["p50_ms"], 2), fmt(small[name]["p99_ms"], 2),
             fmt(large[name]["p50_ms"], 2), fmt(large[name]["p99_ms"], 2),
             "-" if target is None else target, met]
        )  # fmt: skip
    table = markdown_table(
        ["query", f"p50 ms @{small['interactions']:,}", f"p99 ms @{small['interactions']:,}",
         f"p50 ms @{large['interactions']:,}", f"p99 ms @{large['interactions']:,}",
         "target p99 ms", ""],
        rows,
    )  # fmt: skip
    rates = " and ".join(f"{rate:,.0f}" for rate in report["load_events_per_s"])
    events = report.get("events")
    size = f"{report['interactions']:,} interactions" + (f", {events:,} events" if events else "")
    return "\n".join(
        [
            f"#### Read side at scale (`bench/queries.py`, {size}, recorded {recorded})",
            "",
            "Queries timed in a separate process that opens the views as the API does, at "
            f"{small['interactions']:,} interactions and again at {report['interactions']:,}.",
            "",
            table,
            "",
            f"Query process peak RSS: {small['peak_rss_mib']:.0f} MiB at "
            f"{small['interactions']:,} interactions, {large['peak_rss_mib']:.0f} MiB at "
            f"{large['interactions']:,}. Generator through the five queried projections: "
            f"{rates} events/s (first and second part of the load).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--reuse-queries", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    write_path = json.loads(run("write_path.py", "--seconds", str(args.seconds)).read_text())
    if args.reuse_queries:
        queries_file = newest("queries")
    else:
        queries_file = run("queries.py", "--interactions", str(args.interactions))
    queries = json.loads(queries_file.read_text())
    recorded = queries_file.stem.removeprefix("queries-")

    machine = write_path["machine"]
    body = "\n\n".join(
        [
            f"Generated by `bench/run_all.py` on {utc_stamp()} ({machine['cpu_count']} cores, "
            f"{machine['processor'] or machine['machine']}, {machine['python']}); "
            "PostgreSQL and the benchmark share the machine.",
            write_path_section(write_path),
            queries_section(queries, recorded),
        ]
    )
    markdown = RESULTS / f"run-all-{utc_stamp()}.md"
    markdown.write_text(body + "\n")
    summary = {"write_path": write_path, "queries": queries, "queries_file": queries_file.name}
    (RESULTS / f"run-all-{utc_stamp()}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{body}\n\nwritten {markdown}")
    if not args.no_readme:
        replace_section(README, body)
        print(f"README.md updated between the {Path(__file__).name} markers")


def replace_section(readme: Path, body: str) -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"README.md has no {BEGIN!r} ... {END!r} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


if __name__ == "__main__":
    main()
