"""Rendered pages/s on a local JavaScript site: our stack (``render: "always"``) against
Crawl4AI's crawler, both driving Debian's Chromium, at the same concurrency, in one run.

``make bench-render`` (``bash bench/render/run.sh``, which installs nginx and Crawl4AI's own
virtual environment if missing; extra arguments through ``BENCH_ARGS``) does:

1. generates the site (``bench.render.site``: ``--pages`` pages whose text a script loads,
   each with a marker of its own; cached under ``.local``) and serves it with nginx;
2. ``--repeat`` times, one side after the other:
   - Crawl4AI (``bench/render/peer_crawl4ai.py``, in ``.local/bench/crawl4ai``): the list of
     every page's URL, ``arun_many`` at ``--concurrency``, over the DevTools protocol to a
     Chromium it starts, with its default wait (``domcontentloaded``, then 0.1 s), and with
     ``--peer-networkidle`` a second time waiting for the network to go quiet, as our
     renderer does; time: ``arun_many`` start to end;
   - ours (``bench.render.ours``): a crawl from the site's start page through the API, the
     crawler and the renderer at ``--concurrency``; time: the job's ``started_at`` to
     ``finished_at``;
   on each side the process tree of the browser's driver (Crawl4AI's process, our renderer)
   and its Chromium is sampled every second for its RSS;
3. counts the pages whose output (Crawl4AI's Markdown; our stored Markdown) holds their marker:
   the proof that the page was rendered (fetched without a browser, a page holds none).

The headline is pages rendered (marker found) per second on each side and their ratio
(target: ours at least ``TARGET_RATIO`` times the peer), and whether the renderer's RSS stayed
flat (``bench.render.memory``). Results go to ``bench/results/render.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.render import site
from bench.render.memory import TreeMemory, flatness
from bench.render.ours import run_ours
from bench.scale.site import nginx

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "render.json"
PEER_SCRIPT = ROOT / "bench" / "render" / "peer_crawl4ai.py"
PEER_PYTHON = ROOT / ".local" / "bench" / "crawl4ai" / "bin" / "python"
TARGET_RATIO = 1.5
NETWORKIDLE = "crawl4ai_networkidle"
# The peer in its own defaults (the headline), the peer waiting like our renderer, ours.
SIDES = ("crawl4ai", NETWORKIDLE, "ours")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_peer(pages_file: Path, args: argparse.Namespace, wait_until: str) -> dict[str, Any]:
    """Crawl4AI over every page's URL, in its own environment; its figures and memory."""
    log = ROOT / ".local" / "logs" / "bench-crawl4ai.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peer.json"
        command = [
            str(args.peer_python),
            str(PEER_SCRIPT),
            str(pages_file),
            str(out),
            "--concurrency",
            str(args.concurrency),
            "--chromium",
            args.chromium,
            "--wait-until",
            wait_until,
        ]
        load_before = _load()
        with log.open("w") as sink:
            process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
            memory = TreeMemory(process.pid)
            memory.start()
            code = process.wait()
            samples = memory.stop()
        if code != 0:
            raise RuntimeError(f"Crawl4AI exited with {code}; see {log}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["load_before"] = load_before
    result["memory"] = flatness(samples)
    return result


def summarise(
    runs: list[dict[str, Any]], pages: int, concurrency: int, began: datetime
) -> dict[str, Any]:
    def median(side: str, key: str) -> float:
        return round(float(statistics.median(r[side][key] for r in runs if side in r)), 2)

    both = [r for r in runs if "ours" in r and "crawl4ai" in r]
    ratios = [
        r["ours"]["rendered_per_s"] / r["crawl4ai"]["rendered_per_s"]
        for r in both
        if r["crawl4ai"]["rendered_per_s"]
    ]
    summary: dict[str, Any] = {
        "measured_at": began.strftime("%Y-%m-%d %H:%M UTC"),
        "site_pages": pages,
        "concurrency": concurrency,
        "repeats": len(runs),
    }
    for side in SIDES:
        if any(side in r for r in runs):
            summary[side] = {
                "pages": int(median(side, "pages")),
                "rendered": int(median(side, "rendered")),
                "seconds": median(side, "seconds"),
                "pages_per_s": median(side, "pages_per_s"),
                "rendered_per_s": median(side, "rendered_per_s"),
            }
    if ratios:
        ratio = statistics.median(ratios)
        summary |= {
            "ratio": round(ratio, 2),
            "ratios": [round(x, 2) for x in ratios],
            "ratio_target": TARGET_RATIO,
            "ratio_met": ratio >= TARGET_RATIO,
        }
    flats = [r["ours"]["memory"].get("flat") for r in runs if "ours" in r]
    if flats:
        summary["renderer_rss_flat"] = all(f is True for f in flats)
    return summary


def print_table(summary: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    print(
        f"\n== {summary['site_pages']} pages, concurrency {summary['concurrency']}, "
        f"{summary['measured_at']}"
    )
    print(
        f"{'run':>3} {'side':<20} {'pages':>6} {'marker':>6} {'seconds':>8} {'pages/s':>8} "
        f"{'rendered/s':>10} | {'RSS start':>9} {'median':>7} {'max':>7} {'Q4/Q1':>6} {'flat':>5}"
    )
    for i, run in enumerate(runs, 1):
        for side in SIDES:
            if side not in run:
                continue
            r = run[side]
            m = r["memory"]
            print(
                f"{i:>3} {side:<20} {r['pages']:>6} {r['rendered']:>6} {r['seconds']:>8.1f} "
                f"{r['pages_per_s']:>8.2f} {r['rendered_per_s']:>10.2f} | "
                f"{m.get('start_mib', 0):>8.0f}M {m.get('median_mib', 0):>6.0f}M "
                f"{m.get('max_mib', 0):>6.0f}M {m.get('last_to_first_quarter', 0):>6.2f} "
                f"{m.get('flat')!s:>5}"
            )
    if "ratio" in summary:
        print(
            f"rendered pages/s: ours {summary['ours']['rendered_per_s']}, Crawl4AI "
            f"{summary['crawl4ai']['rendered_per_s']}: ratio {summary['ratio']:.2f}x (target "
            f"{TARGET_RATIO:g}x: {'met' if summary['ratio_met'] else 'NOT met'}); renderer RSS "
            f"flat: {summary.get('renderer_rss_flat')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=2000, help="pages of the site")
    parser.add_argument("--concurrency", type=int, default=4, help="pages rendered at once")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side")
    parser.add_argument("--only", choices=("crawl4ai", "ours"), help="run one side only")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument(
        "--peer-networkidle",
        action="store_true",
        help="also run Crawl4AI with wait_until=networkidle (a wait like our renderer's)",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args()
    amqp = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    management = (
        os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{urlsplit(amqp).hostname}:15672"
    )
    if args.only != "ours" and not args.peer_python.exists():
        sys.exit(f"{args.peer_python} is missing: bash bench/render/run.sh makes it")
    began = datetime.now(UTC)
    directory = ROOT / ".local" / f"bench-render-site-{args.pages}"
    if site.generate(directory, args.pages):
        print(f"site: {args.pages} pages generated in {directory}", flush=True)
    runs: list[dict[str, Any]] = []
    with nginx(directory) as base, tempfile.TemporaryDirectory() as tmp:
        pages_file = Path(tmp) / "pages.json"
        urls = site.page_urls(base, args.pages)
        pages_file.write_text(json.dumps([[u, site.marker(i)] for i, u in enumerate(urls)]))
        for i in range(args.repeat):
            run: dict[str, Any] = {}
            if args.only != "ours":
                run["crawl4ai"] = run_peer(pages_file, args, "domcontentloaded")
                print(f"run {i + 1} crawl4ai: {_brief(run['crawl4ai'])}", flush=True)
                if args.peer_networkidle:
                    run[NETWORKIDLE] = run_peer(pages_file, args, "networkidle")
                    print(f"run {i + 1} {NETWORKIDLE}: {_brief(run[NETWORKIDLE])}", flush=True)
            if args.only != "crawl4ai":
                run["ours"] = run_ours(
                    base, args.pages, args.concurrency, args.chromium, amqp, management, mongo
                )
                print(f"run {i + 1} ours: {_brief(run['ours'])}", flush=True)
            runs.append(run)
    summary = summarise(runs, args.pages, args.concurrency, began)
    print_table(summary, runs)
    if args.no_write:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2) + "\n")
    print(f"written: {RESULTS.relative_to(ROOT)}")


def _brief(result: dict[str, Any]) -> str:
    keys = ("pages", "rendered", "seconds", "pages_per_s", "rendered_per_s")
    return json.dumps({k: result[k] for k in keys if k in result})


if __name__ == "__main__":
    main()
