"""Build benchmark: innovate-news against Pelican and a lower bound, on one synthetic corpus.

Prints, per corpus size, the cold build, a warm rebuild after editing one post, Pelican's full
site and the lower bound (markdown-it-py + one RSS and one Atom feed with feedgen), as ratios
measured in the same run, plus the build's peak memory (cold, warm, and rendering every post
again after a settings change).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Python puts this folder first on the path when a script here runs; bench/email.py would then
# shadow the standard library's email package. Keep the folder, but after the stdlib.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

import corpus  # noqa: E402 - the benchmark's own helpers, beside this file
from measure import Run, run  # noqa: E402

# Every contender works in the same folder, in memory where the machine has a tmpfs: the
# virtual disks here vary several-fold in how fast they create files from one minute to the
# next, and a site is thousands of files, while the lower bound writes two.
WORK = Path(
    os.environ.get("BENCH_DIR")
    or ("/dev/shm/innovate-news-bench" if Path("/dev/shm").is_dir() else HERE / ".work")
)
GOAL_SIZE = 10_000  # the corpus the goals are set for
PELICAN_CONF = """AUTHOR = "Bench team"
SITENAME = "Benchmark site"
SITEURL = "https://example.org/bench"
TIMEZONE = "Europe/London"
DEFAULT_LANG = "en"
PATH = "content"
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
CATEGORY_FEED_ATOM = "feeds/{slug}.atom.xml"
CATEGORY_FEED_RSS = "feeds/{slug}.rss.xml"
RSS_FEED_SUMMARY_ONLY = False
FEED_MAX_ITEMS = None
DEFAULT_PAGINATION = 20
DELETE_OUTPUT_DIRECTORY = True
"""


def pelican_corpus(folder: Path, records: list[dict[str, object]]) -> None:
    """The same posts in Pelican's markdown metadata format."""
    content = folder / "content"
    content.mkdir(parents=True, exist_ok=True)
    for record in records:
        header = (
            f"Title: {record['title']}\n"
            f"Date: {record['date']:%Y-%m-%d %H:%M}\n"
            f"Category: {record['kind']}\n"
            f"Slug: {record['slug']}\n\n"
        )
        (content / f"{record['slug']}.md").write_text(
            header + str(record["body"]), encoding="utf-8"
        )
    (folder / "pelicanconf.py").write_text(PELICAN_CONF, encoding="utf-8")


def bench_size(count: int) -> dict[str, Run]:
    folder = WORK / f"build-{count}"
    shutil.rmtree(folder, ignore_errors=True)
    records = corpus.make(folder, count)
    corpus.write_settings(folder, feed_items=count)  # every post in every feed, as the bound
    pelican_corpus(folder / "pelican", records)
    python = sys.executable
    cli = [python, "-m", "innovate_news", "build", "--now", "2030-01-01"]
    lower = [python, str(HERE / "lower_bound.py"), str(folder), "lb-out"]
    results = {
        "lower bound": run(lower, folder, memory=False),
        "innovate-news cold": run(cli, folder, memory=False),
    }
    edit(folder, count // 2)
    results["innovate-news warm (1 edit)"] = run(cli, folder, memory=False)
    results["pelican"] = run(
        [python, "-m", "pelican", "content", "-o", "output", "-s", "pelicanconf.py", "-q"],
        folder / "pelican",
        memory=False,
    )
    # Memory is measured in runs of its own: sampling it slows what is sampled.
    results["lower bound (memory run)"] = run(lower, folder)
    for state in (folder / "site", folder / ".innovate-news"):
        shutil.rmtree(state)
    results["innovate-news cold (memory run)"] = run(cli, folder)
    edit(folder, count // 3)
    results["innovate-news warm (memory run)"] = run(cli, folder)
    # A settings change renders every post again, with the last build's cache on disk.
    settings = folder / "innovate-news.toml"
    settings.write_text(settings.read_text("utf-8").replace("Benchmark site", "Bench"), "utf-8")
    results["innovate-news re-render (memory run)"] = run(cli, folder)
    return results


def edit(folder: Path, index: int) -> None:
    """Append a line to one post, as a writer fixing something would."""
    edited = sorted((folder / "posts").glob("*.md"))[index]
    edited.write_text(edited.read_text(encoding="utf-8") + "\nOne more line.\n", "utf-8")


def report(count: int, results: dict[str, Run]) -> list[str]:
    bound = results["lower bound"].seconds
    cold = results["innovate-news cold"]
    warm = results["innovate-news warm (1 edit)"]
    pelican = results["pelican"].seconds
    lines = [f"build, {count:,} posts (seconds; ratios from this run)"]
    for name, result in results.items():
        if "memory run" in name:
            lines.append(f"  {name:<37} peak {result.peak_tree_mib:6.1f} MiB (PSS, whole tree)")
        else:
            lines.append(
                f"  {name:<37} {result.seconds:8.2f} s  {result.seconds / bound:5.2f}x lower bound"
            )
    memory = max(
        result.peak_tree_mib
        for name, result in results.items()
        if name.startswith("innovate-news") and "memory run" in name
    )
    # The goals are set for 10,000 posts; smaller corpora are shown for how the ratios scale.
    goals = count >= GOAL_SIZE
    lines += [
        f"  cold / lower bound      {cold.seconds / bound:5.2f}  {goal(goals, '<= 1.0')}",
        f"  pelican / cold          {pelican / cold.seconds:5.2f}  {goal(goals, '>= 4')}",
        f"  warm / cold             {warm.seconds / cold.seconds:5.3f} {goal(goals, '<= 0.1')}",
        f"  peak memory             {memory:6.1f} MiB {goal(goals, '<= 200')}",
    ]
    return lines


def goal(applies: bool, target: str) -> str:
    return f"(goal {target})" if applies else f"(goal {target} at {GOAL_SIZE:,} posts)"


def main(sizes: tuple[int, ...] = (1_000, 10_000)) -> list[str]:
    print(f"(corpora and outputs in {WORK})", flush=True)
    lines: list[str] = []
    for count in sizes:
        found = report(count, bench_size(count))
        print("\n".join(found), flush=True)
        lines += found
    shutil.rmtree(WORK, ignore_errors=True)
    return lines


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (1_000, 10_000))
