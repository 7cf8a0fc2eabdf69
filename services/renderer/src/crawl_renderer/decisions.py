"""What happens to each request a page's browser makes: pure decisions, no browser, no I/O.

- the page's own document (the first navigation of the main frame) is answered with the
  bytes the crawler fetched: never fetched twice;
- images, fonts and media are aborted: they cost bandwidth and change no text;
- any later navigation of the main frame is aborted (a script sending the page elsewhere
  would replace the text being rendered);
- anything but ``http``/``https`` is aborted (``file:``, ``ftp:``, ...; ``data:`` and
  ``blob:`` never reach the router);
- past the page's request limit, everything is aborted;
- the rest is fetched by the renderer itself through the address policy and the job's
  politeness (``subrequests``), and the browser gets the answer: it connects nowhere itself.

:func:`address_kind` names why an address is refused, for the job's log.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from crawl_netguard import SHARED_ADDRESS_SPACE, IPAddress

__all__ = ["SKIPPED_RESOURCE_TYPES", "Action", "Decision", "address_kind", "decide"]

SKIPPED_RESOURCE_TYPES = frozenset({"image", "font", "media"})
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class Action(StrEnum):
    DOCUMENT = "document"  # answer with the crawler's bytes
    SKIP = "skip"  # abort quietly (images, fonts, media: not worth a log line)
    BLOCK = "block"  # abort and report (url + reason) to the crawler
    FETCH = "fetch"  # fetch through the address policy and politeness, then answer


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str | None = None


def decide(
    *,
    url: str,
    resource_type: str,
    main_frame_navigation: bool,
    document_served: bool,
    requests_so_far: int,
    max_requests: int,
) -> Decision:
    """The fate of one request of a page being rendered."""
    if main_frame_navigation:
        if not document_served:
            return Decision(Action.DOCUMENT)
        return Decision(Action.BLOCK, "navigation away from the page")
    if resource_type in SKIPPED_RESOURCE_TYPES:
        return Decision(Action.SKIP, resource_type)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        return Decision(Action.BLOCK, f"scheme not allowed: {scheme or 'none'}")
    if requests_so_far >= max_requests:
        return Decision(Action.BLOCK, f"request limit reached ({max_requests} per page)")
    return Decision(Action.FETCH)


def address_kind(address: IPAddress) -> str:
    """Why the address policy refuses ``address``, in a word or two (the log says it)."""
    if address in _METADATA:
        return "link-local, cloud metadata" if address.version == 4 else "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return "shared address space"
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return kind
    return "not globally routable"
