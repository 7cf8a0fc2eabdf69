"""Writes the documents site under ``documents/``: a page linking to three PDFs, one readable
(two pages of text and a title), one damaged (cut off after its header), one encrypted.

Run once (``python tests/sites/make_documents.py``; the encrypted file needs ``qpdf`` on the
PATH); the output is committed, so the files the tests read are fixed bytes. The readable PDF
is written by hand (Helvetica text, a cross-reference table with exact offsets): no PDF
library is needed to make it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OUT = Path(__file__).parent / "documents"

GUIDE_TITLE = "Oaks of Europe"
GUIDE_PAGES = [
    [
        "A pocket guide to the oaks of Europe.",
        "The English oak grows slowly and lives for many centuries.",
    ],
    ["Acorns ripen in autumn and feed jays, squirrels and wild boar."],
]

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Documents - Field Guide to Trees</title></head>
<body><main><article>
<h1>Documents</h1>
<p>The field guide's printed leaflets, as PDF files for download and printing at home.</p>
<p>Each leaflet covers one group of trees, with notes on where they grow and how to tell
them apart in every season, from the shape of the leaves to the colour of the bark.</p>
<ul>
<li><a href="/oaks.pdf">Oaks of Europe (PDF)</a></li>
<li><a href="/damaged.pdf">A leaflet whose download broke off (PDF)</a></li>
<li><a href="/locked.pdf">A leaflet locked with a password (PDF)</a></li>
</ul>
</article></main></body></html>
"""


def text_pdf(pages: list[list[str]], title: str) -> bytes:
    """A PDF whose pages hold ``pages``' lines in Helvetica, with ``title`` in its Info."""
    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    font = 1
    contents = []
    for lines in pages:
        ops = [b"BT /F1 12 Tf 72 720 Td 14 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(b"(" + escaped.encode("latin-1") + b") Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        contents.append(len(objects))
    pages_id = len(objects) + len(contents) + 1
    kids = []
    for content in contents:
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
            % (pages_id, font, content)
        )
        kids.append(len(objects))
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    objects.append(b"<< /Type /Pages /Kids [" + refs + b"] /Count %d >>" % len(kids))
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    catalog = len(objects)
    objects.append(b"<< /Title (" + title.encode("latin-1") + b") >>")
    info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        catalog,
        info,
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "index.html").write_text(INDEX)
    guide = text_pdf(GUIDE_PAGES, GUIDE_TITLE)
    (OUT / "oaks.pdf").write_bytes(guide)
    (OUT / "damaged.pdf").write_bytes(guide[:200])  # the header and half an object
    qpdf = shutil.which("qpdf")
    if qpdf is None:
        raise SystemExit("qpdf is needed for locked.pdf (apt-get install qpdf)")
    subprocess.run(
        [
            qpdf,
            "--encrypt",
            "secret",
            "secret",
            "256",
            "--",
            str(OUT / "oaks.pdf"),
            str(OUT / "locked.pdf"),
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
