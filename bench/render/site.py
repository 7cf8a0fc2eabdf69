"""The JavaScript site the render benchmark crawls.

``generate(directory, pages)``: ``pages`` HTML pages whose main text only a browser sees,
cached under ``.local`` (a marker file names the generator's version and the page count;
anything else is regenerated). Page ``i`` (``/`` for 0, ``/p/<i>.html`` otherwise) is a shell:
a title, an empty ``<main id="app" data-page="i">``, ``<script src="/app.js" defer>`` and a
``<nav>`` of 10 in-site links (the tree of ``bench.scale.site.children``: page ``i`` links to
``10i+1 .. 10i+10``, so every page is reachable within ``depth(pages)``). ``/app.js`` fetches
``/data/<i>.json`` and writes its heading and paragraphs into ``<main>``. The first paragraph
holds the page's marker (``marker(i)``): a page whose output holds its marker was rendered;
fetched without a browser it holds none. No images, stylesheets or fonts: a page is three
requests (the shell, the script, the data), the same for every crawler.

Served by nginx (``bench.scale.site.nginx``) on loopback.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

from bench.scale.site import children, depth

__all__ = ["GENERATOR_VERSION", "depth", "generate", "marker", "page_path", "page_urls"]

GENERATOR_VERSION = 1
_MARKER_FILE = ".bench-render-site.json"

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "dor", "fen")
_WORDS = sorted({a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "n", "s", "ta")})

APP_JS = """\
(async () => {
  const main = document.getElementById("app");
  const response = await fetch(`/data/${main.dataset.page}.json`);
  const data = await response.json();
  const article = document.createElement("article");
  const heading = document.createElement("h2");
  heading.textContent = data.heading;
  article.appendChild(heading);
  for (const text of data.paragraphs) {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    article.appendChild(paragraph);
  }
  main.appendChild(article);
})();
"""


def page_path(i: int) -> str:
    """The URL path of page ``i``."""
    return "/" if i == 0 else f"/p/{i}.html"


def page_urls(base: str, pages: int) -> list[str]:
    """Every page's URL under ``base`` (``http://host:port/``), page 0 first."""
    root = base.rstrip("/")
    return [root + page_path(i) for i in range(pages)]


def marker(i: int) -> str:
    """Page ``i``'s marker: letters and digits only, so that it survives any conversion to
    text or Markdown unchanged, and found on no other page."""
    digest = hashlib.sha256(f"render-bench-{i}".encode()).hexdigest()[:8]
    return f"RMK{i}Z{digest}"


def _data(i: int) -> dict[str, object]:
    rng = random.Random(i * 7919 + 29)

    def sentence() -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(9, 16))).capitalize() + "."

    paragraphs = [" ".join(sentence() for _ in range(rng.randint(4, 6))) for _ in range(8)]
    paragraphs[0] = f"This page's reference is {marker(i)}. {paragraphs[0]}"
    return {"heading": f"Notes on page {i}", "paragraphs": paragraphs}


def _shell(i: int, pages: int) -> str:
    links = "\n".join(f'<li><a href="{page_path(c)}">Page {c}</a></li>' for c in children(i, pages))
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>Page {i}</title>\n'
        '<link rel="icon" href="data:,">\n'
        '<script src="/app.js" defer></script></head>\n'
        f"<body><header><h1>Page {i}</h1></header>\n"
        f'<main id="app" data-page="{i}"></main>\n'
        f"<nav><ul>\n{links}\n</ul></nav>\n"
        "<footer>Generated for the render benchmark.</footer></body></html>\n"
    )


def generate(directory: Path, pages: int) -> bool:
    """Make the site unless ``directory`` holds this version's site of ``pages`` pages;
    whether it was (re)generated."""
    stamp = directory / _MARKER_FILE
    wanted = {"version": GENERATOR_VERSION, "pages": pages}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return False
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "p").mkdir(parents=True)
    (directory / "data").mkdir()
    (directory / "app.js").write_text(APP_JS)
    for i in range(pages):
        shell = directory / ("index.html" if i == 0 else page_path(i).lstrip("/"))
        shell.write_text(_shell(i, pages))
        (directory / "data" / f"{i}.json").write_text(json.dumps(_data(i)))
    stamp.write_text(json.dumps(wanted))
    return True
