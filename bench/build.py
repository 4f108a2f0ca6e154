"""Build benchmark: innovate-news against Pelican, Hugo and a lower bound, on one corpus.

Prints, per corpus size and per place (a tmpfs and the disk the sources are on), the cold
build, a warm rebuild after editing one post, Pelican's full site, Hugo's site (a minimal
theme-less layout set: a page per post, section and home lists, an RSS feed per section and
for the home page with every post's full content), and the lower bound (markdown-it-py + one
RSS and one Atom feed with feedgen), as ratios measured in the same run, plus each one's peak
memory (for innovate-news: cold, warm, and rendering every post again after a settings change).

BENCH_SIZES="200" (or "1000,10000", the default) chooses the corpus sizes, BENCH_PLACES="tmpfs"
(or "disk", or "tmpfs,disk", the default) where the corpora and outputs live.
"""

from __future__ import annotations

import os
import re
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

# Every contender works in the same folder, once in memory (a tmpfs) and once on the disk the
# sources are on: the virtual disks here vary several-fold in how fast they create files from
# one minute to the next, and a site is thousands of files, while the lower bound writes two.
PLACES = {"tmpfs": Path("/dev/shm/innovate-news-bench"), "disk": HERE / ".work" / "build"}
SIZES = (1_000, 10_000)
GOAL_SIZE = 10_000  # the corpus the goals are set for
HUGO = shutil.which("hugo")  # Debian's hugo, which `make bench` installs where it is missing
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


HUGO_CONFIG = """baseURL = "https://example.org/bench/"
title = "Benchmark site"
languageCode = "en"
timeZone = "Europe/London"
disableKinds = ["taxonomy", "term"]
rssLimit = -1
"""
HUGO_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }} · {{ .Site.Title }}</title>
{{ with .OutputFormats.Get "rss" }}<link rel="alternate" type="application/rss+xml" \
href="{{ .Permalink }}">{{ end }}</head>
"""
HUGO_LAYOUTS = {
    # One page per post.
    "single.html": HUGO_HEAD
    + """<body><main><article><h1>{{ .Title }}</h1>
<time datetime="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">\
{{ .Date.Format "2 January 2006" }}</time>
{{ .Content }}
</article></main></body></html>
""",
    # The home page and each section: every post, as innovate-news's archive lists them.
    "list.html": HUGO_HEAD
    + """<body><main><h1>{{ .Title }}</h1><ul>
{{ range cond .IsHome .Site.RegularPages .RegularPagesRecursive }}\
<li><time datetime="{{ .Date.Format "2006-01-02" }}">\
{{ .Date.Format "2 January 2006" }}</time> {{ .Section }} \
<a href="{{ .RelPermalink }}">{{ .Title }}</a></li>
{{ end }}</ul></main></body></html>
""",
    # The home page's and each section's feed, with each post's full content (Hugo's own
    # template carries the summary), every post in it (rssLimit = -1).
    "rss.xml": """{{- $pages := cond .IsHome .Site.RegularPages .RegularPagesRecursive -}}
{{- $limit := .Site.Config.Services.RSS.Limit -}}
{{- if ge $limit 1 }}{{ $pages = $pages | first $limit }}{{ end -}}
{{- printf `<?xml version="1.0" encoding="utf-8" standalone="yes"?>` | safeHTML }}
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>{{ .Site.Title }}{{ if not .IsHome }}: {{ .Title }}{{ end }}</title>
<link>{{ .Permalink }}</link>
<description>A synthetic corpus.</description>
<language>en</language>
{{ with .OutputFormats.Get "rss" }}<atom:link href="{{ .Permalink }}" rel="self" \
type="application/rss+xml"/>{{ end }}
{{ range $pages }}<item>
<title>{{ .Title }}</title>
<link>{{ .Permalink }}</link>
<pubDate>{{ .Date.Format "Mon, 02 Jan 2006 15:04:05 -0700" | safeHTML }}</pubDate>
<guid>{{ .Permalink }}</guid>
<description>{{ .Content | html }}</description>
</item>
{{ end }}</channel></rss>
""",
}


def hugo_corpus(folder: Path, records: list[dict[str, object]]) -> None:
    """The same posts as Hugo content, a section per kind, and a minimal layout set."""
    for record in records:
        section = folder / "content" / str(record["kind"])
        section.mkdir(parents=True, exist_ok=True)
        header = (
            "---\n"
            f'title: "{record["title"]}"\n'
            f"date: {record['date']:%Y-%m-%dT%H:%M:%S}\n"
            f"slug: {record['slug']}\n"
            "---\n\n"
        )
        (section / f"{record['slug']}.md").write_text(header + str(record["body"]), "utf-8")
    layouts = folder / "layouts" / "_default"
    layouts.mkdir(parents=True)
    for name, text in HUGO_LAYOUTS.items():
        (layouts / name).write_text(text, encoding="utf-8")
    (folder / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")


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


def bench_size(folder: Path, count: int) -> dict[str, Run]:
    shutil.rmtree(folder, ignore_errors=True)
    records = corpus.make(folder, count)
    corpus.write_settings(folder, feed_items=count)  # every post in every feed, as the bound
    pelican_corpus(folder / "pelican", records)
    if HUGO:
        hugo_corpus(folder / "hugo", records)
    hugo = [HUGO or "hugo", "--buildFuture", "--quiet", "-d", "output"]
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
    if HUGO:
        results["hugo"] = run(hugo, folder / "hugo", memory=False)
    # Memory is measured in runs of its own: sampling it slows what is sampled.
    results["lower bound (memory run)"] = run(lower, folder)
    if HUGO:
        shutil.rmtree(folder / "hugo" / "output")
        results["hugo (memory run)"] = run(hugo, folder / "hugo")
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


def report(count: int, place: str, results: dict[str, Run]) -> list[str]:
    bound = results["lower bound"].seconds
    cold = results["innovate-news cold"]
    warm = results["innovate-news warm (1 edit)"]
    pelican = results["pelican"].seconds
    lines = [f"build, {count:,} posts {place}; seconds, ratios from this run"]
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
    if "hugo" in results:
        hugo = results["hugo"].seconds
        lines += [
            f"  cold / hugo             {cold.seconds / hugo:5.2f}  (aim: no slower than Hugo)",
            f"  warm / hugo             {warm.seconds / hugo:5.3f}",
        ]
    else:
        lines.append("  hugo                    not installed (`make bench` installs it)")
    return lines


def compare_places(count: int, by_place: dict[str, dict[str, Run]]) -> list[str]:
    """How much slower each contender is on disk than on the tmpfs, in this run."""
    if not {"tmpfs", "disk"} <= by_place.keys():
        return []
    tmpfs, disk = by_place["tmpfs"], by_place["disk"]
    lines = [f"build, {count:,} posts: disk / tmpfs"]
    for name, result in disk.items():
        if "memory run" not in name and name in tmpfs:
            lines.append(f"  {name:<37} {result.seconds / tmpfs[name].seconds:5.2f}")
    return lines


def goal(applies: bool, target: str) -> str:
    return f"(goal {target})" if applies else f"(goal {target} at {GOAL_SIZE:,} posts)"


def chosen_sizes() -> tuple[int, ...]:
    value = os.environ.get("BENCH_SIZES", "").strip()
    return tuple(int(part) for part in re.split(r"[,\s]+", value) if part) or SIZES


def chosen_places() -> dict[str, Path]:
    names = [p for p in re.split(r"[,\s]+", os.environ.get("BENCH_PLACES", "tmpfs,disk")) if p]
    unknown = [name for name in names if name not in PLACES]
    if unknown or not names:
        raise SystemExit(f"BENCH_PLACES: {unknown or names} not among {', '.join(PLACES)}")
    places = {name: PLACES[name] for name in names}
    if "tmpfs" in places and not places["tmpfs"].parent.is_dir():
        print(f"(no {places.pop('tmpfs').parent} here: skipping the tmpfs runs)", flush=True)
    return places


def filesystem(path: Path) -> str:
    """The type of the file system `path` is on, from the longest mount point above it."""
    best, kind = "", "unknown"
    target = str(path.resolve())
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        point = fields[1].replace("\\040", " ")
        above = target == point or target.startswith(point.rstrip("/") + "/")
        if above and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def main(sizes: tuple[int, ...] = ()) -> list[str]:
    places = chosen_places()
    lines: list[str] = []
    for count in sizes or chosen_sizes():
        by_place = {}
        for name, work in places.items():
            folder = work / f"build-{count}"
            folder.mkdir(parents=True, exist_ok=True)
            place = f"on {name} ({folder}, {filesystem(folder)})"
            by_place[name] = bench_size(folder, count)
            found = report(count, place, by_place[name])
            print("\n".join(found), flush=True)
            lines += found
            shutil.rmtree(folder, ignore_errors=True)
        found = compare_places(count, by_place)
        if found:
            print("\n".join(found), flush=True)
            lines += found
    for work in places.values():
        shutil.rmtree(work, ignore_errors=True)
    return lines


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]))
