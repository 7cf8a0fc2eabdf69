"""URL normalisation and scope: the keys of the frontier and of the page ledger."""

from __future__ import annotations

import posixpath
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

__all__ = ["IGNORED_SCHEMES", "normalize_url", "resolve_link", "same_site"]

IGNORED_SCHEMES = frozenset({"javascript", "mailto", "data", "tel", "ftp", "file", "about"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PREFIXES = ("utm_",)
_TRACKING_PARAMS = frozenset({"gclid", "fbclid", "mc_cid", "mc_eid", "msclkid", "yclid"})


def normalize_url(url: str) -> str:
    """Canonical form: lower-case scheme and host, no default port, no fragment, no dot
    segments, empty path as ``/``, query sorted and stripped of tracking parameters.

    Raises ``ValueError`` for URLs that are not absolute http(s).
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"URL without a host: {url!r}")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid host in {url!r}") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    trailing = path.endswith("/")
    path = posixpath.normpath(quote(unquote(path), safe="/%:@!$&'()*+,;=~-._"))
    if path == ".":
        path = "/"
    if trailing and not path.endswith("/"):
        path += "/"
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in _TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
        )
    )
    return urlunsplit((scheme, netloc, path, query, ""))


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
