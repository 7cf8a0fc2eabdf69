"""Writes the sample site under ``sample/``: a small field guide to trees, 37 linked pages and
a printable planting calendar (a PDF linked from the care section, 38 URLs in all).

Run once (``python -m tests.sites.make_sample`` from the checkout); the output is committed so
that the site the README and the e2e test crawl is fixed text.
"""

from __future__ import annotations

import html
from pathlib import Path

from tests.sites.make_documents import text_pdf

OUT = Path(__file__).parent / "sample"

CALENDAR = "planting-calendar.pdf"
CALENDAR_TITLE = "Planting calendar"
CALENDAR_PAGES = [
    [
        "A planting calendar for the trees of this guide.",
        "Plant bare-root trees between November and March, while they are dormant.",
    ],
    ["Water young trees weekly through their first summer, and mulch them each spring."],
]

SECTIONS = {
    "conifers": ["Scots pine", "Norway spruce", "European larch", "Yew", "Douglas fir"],
    "broadleaves": ["English oak", "European beech", "Silver birch", "Ash", "Sycamore"],
    "fruit-trees": ["Wild cherry", "Crab apple", "Rowan", "Hawthorn", "Elder"],
    "wetland-trees": ["Alder", "White willow", "Black poplar", "Aspen", "Downy birch"],
    "care": ["Planting", "Pruning", "Watering", "Mulching", "Pests"],
    "identification": ["Leaves", "Bark", "Buds", "Seeds", "Silhouettes"],
}

FACTS = [
    "It grows best where the soil drains well and the sun reaches the crown for most of the day.",
    "Young specimens tolerate shade, but mature ones need open ground to keep their lower limbs.",
    "The wood has long been used for furniture, fencing, fuel and the frames of small boats.",
    "Birds nest in its branches, and more than a hundred kinds of insect feed on its leaves.",
    "In winter the outline of the bare tree is often the surest way to recognise it at a distance.",
    "Foresters measure its girth at breast height, one metre and thirty centimetres above ground.",
]


def page(title: str, body: str, crumbs: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(title)} - Field Guide to Trees</title>
<meta name="description" content="{html.escape(title)}: a page of the sample field guide."></head>
<body>
<nav><a href="/">Home</a> {crumbs}</nav>
<main><article>
<h1>{html.escape(title)}</h1>
{body}
</article></main>
<footer><p>Sample site served on loopback for demonstrations and tests.</p></footer>
</body>
</html>
"""


def slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def article(section: str, name: str, index: int) -> str:
    paragraphs = [
        f"<p>The {name.lower()} is entry {index + 1} of the {section.replace('-', ' ')} section "
        f"of this guide. {FACTS[index % len(FACTS)]}</p>",
        f"<p>{FACTS[(index + 1) % len(FACTS)]} {FACTS[(index + 2) % len(FACTS)]} Observers "
        f"who keep a notebook of the {name.lower()} through the seasons learn to tell it apart "
        "from its neighbours by the colour of its twigs and the shape of its buds.</p>",
        f"<p>Where to look next: the <a href='/{section}/'>{section.replace('-', ' ')} index</a>"
        f" lists its relatives, and the <a href='/identification/leaves.html'>leaf key</a> "
        "helps with the first steps of identification.</p>",
    ]
    return "\n".join(paragraphs)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    home_links = []
    for section, names in SECTIONS.items():
        (OUT / section).mkdir(exist_ok=True)
        links = []
        for i, name in enumerate(names):
            crumbs = f"&gt; <a href='/{section}/'>{section}</a>"
            nxt = names[(i + 1) % len(names)]
            body = article(section, name, i) + (
                f"\n<p>Next in this section: <a href='/{section}/{slug(nxt)}.html'>{nxt}</a>.</p>"
            )
            (OUT / section / f"{slug(name)}.html").write_text(page(name, body, crumbs))
            links.append(f"<li><a href='{slug(name)}.html'>{name}</a></li>")
        title = section.replace("-", " ").capitalize()
        intro = (
            f"<p>This section of the field guide describes {len(names)} trees grouped as "
            f"{title.lower()}. Each page gives a short description, notes on habitat and uses, "
            "and links to related pages so that a reader can wander through the guide.</p>"
        )
        if section == "care":
            (OUT / section / CALENDAR).write_bytes(text_pdf(CALENDAR_PAGES, CALENDAR_TITLE))
            links.append(f"<li><a href='{CALENDAR}'>{CALENDAR_TITLE} (PDF, to print)</a></li>")
        (OUT / section / "index.html").write_text(
            page(title, intro + "\n<ul>\n" + "\n".join(links) + "\n</ul>", "")
        )
        home_links.append(f"<li><a href='/{section}/'>{title}</a></li>")
    intro = (
        "<p>Welcome to the field guide to trees. It is a small website of thirty-seven pages that "
        "this project serves on the loopback interface so that a crawl can be watched from "
        "start to finish without touching the internet.</p>"
    )
    (OUT / "index.html").write_text(
        page("Field Guide to Trees", intro + "\n<ul>\n" + "\n".join(home_links) + "\n</ul>", "")
    )


if __name__ == "__main__":
    main()
