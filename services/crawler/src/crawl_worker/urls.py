"""URLs as the crawl follows them: links resolved, scope, ignored schemes; their normal form
(the key of the frontier and of the page ledger) is ``crawl_schema.urls.normalize_url``."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from crawl_schema.urls import normalize_url

__all__ = ["IGNORED_SCHEMES", "normalize_url", "resolve_link", "same_site"]

IGNORED_SCHEMES = frozenset({"javascript", "mailto", "data", "tel", "ftp", "file", "about"})


def resolve_link(base: str, href: str) -> str | None:
    """Absolute, normalised URL of a link, or ``None`` for links never followed."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    scheme = urlsplit(href).scheme.lower()
    if scheme in IGNORED_SCHEMES:
        return None
    try:
        return normalize_url(urljoin(base, href))
    except ValueError:
        return None


def _site(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def same_site(url: str, start_url: str, *, allow_subdomains: bool = False) -> bool:
    """Whether ``url`` is inside the crawl's scope: the start URL's host (``www.`` ignored),
    and its subdomains when allowed. Scheme changes (http <-> https) stay in scope."""
    host = _site(urlsplit(url).hostname or "")
    start = _site(urlsplit(start_url).hostname or "")
    if host == start:
        return True
    return allow_subdomains and host.endswith("." + start)
