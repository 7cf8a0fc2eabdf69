"""Which of a rendered page's requests are answered how, and why an address is refused: the
renderer's pure decisions, and its fetching of requests against an in-memory network."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from crawl_contracts import RenderPoliteness
from crawl_netguard import AddressPolicy
from crawl_politeness import HostGate, PolitenessLimits
from crawl_renderer.decisions import Action, address_kind, decide
from crawl_renderer.gates import JobGates
from crawl_renderer.subrequests import RefusedError, Subrequests

PAGE = "http://site.example/"


def decision(**overrides: object) -> tuple[Action, str | None]:
    fields: dict[str, object] = {
        "url": "http://site.example/app.js",
        "resource_type": "script",
        "main_frame_navigation": False,
        "document_served": True,
        "requests_so_far": 0,
        "max_requests": 10,
        **overrides,
    }
    made = decide(**fields)  # type: ignore[arg-type]
    return made.action, made.reason


def test_the_first_navigation_is_answered_with_the_crawlers_bytes_and_later_ones_blocked() -> None:
    first = decision(
        url=PAGE, resource_type="document", main_frame_navigation=True, document_served=False
    )
    assert first == (Action.DOCUMENT, None)
    later = decision(
        url="http://elsewhere.example/", resource_type="document", main_frame_navigation=True
    )
    assert later == (Action.BLOCK, "navigation away from the page")


@pytest.mark.parametrize("resource_type", ["image", "font", "media"])
def test_images_fonts_and_media_are_never_loaded(resource_type: str) -> None:
    assert decision(resource_type=resource_type)[0] is Action.SKIP


@pytest.mark.parametrize("resource_type", ["script", "stylesheet", "xhr", "fetch", "document"])
def test_scripts_styles_data_and_frames_are_fetched_by_the_renderer(resource_type: str) -> None:
    assert decision(resource_type=resource_type) == (Action.FETCH, None)


def test_other_schemes_and_requests_past_the_limit_are_blocked_with_a_reason() -> None:
    assert decision(url="file:///etc/passwd") == (Action.BLOCK, "scheme not allowed: file")
    assert decision(requests_so_far=10) == (
        Action.BLOCK,
        "request limit reached (10 per page)",
    )


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "link-local, cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("100.64.0.1", "shared address space"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
    ],
)
def test_a_refused_address_is_named_by_its_kind(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


# -- fetching ----------------------------------------------------------------------------------


def network(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/moved":
        return httpx.Response(302, headers={"location": "http://metadata.example/secret"})
    if request.url.path == "/big":
        return httpx.Response(200, content=b"x" * 5000)
    return httpx.Response(200, headers={"content-type": "text/javascript"}, content=b"ok();")


async def fake_resolve(host: str, port: int) -> list[str]:
    return {"metadata.example": ["169.254.169.254"], "site.example": ["93.184.215.14"]}[host]


def subrequests(allowed: tuple[str, ...] = ()) -> Subrequests:
    return Subrequests(
        httpx.AsyncClient(transport=httpx.MockTransport(network)),
        AddressPolicy(allowed),
        max_bytes=1024,
        resolve=fake_resolve,
    )


GATE = HostGate(PolitenessLimits())


async def test_an_allowed_request_is_fetched_and_handed_over() -> None:
    answer = await subrequests().fetch("GET", "http://site.example/app.js", {}, None, GATE)
    assert (answer.status, answer.body) == (200, b"ok();")
    assert answer.headers["content-type"] == "text/javascript"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "http://169.254.169.254/latest/meta-data/",
            "address not allowed: link-local, cloud metadata (169.254.169.254)",
        ),
        ("http://metadata.example/", "address not allowed: link-local, cloud metadata"),
        ("http://127.0.0.1:8000/", "address not allowed: loopback (127.0.0.1)"),
        # a redirect hop is checked like the first request
        ("http://site.example/moved", "address not allowed: link-local, cloud metadata"),
        ("http://site.example/big", "larger than 1024 bytes"),
    ],
)
async def test_refused_requests_say_why(url: str, reason: str) -> None:
    with pytest.raises(RefusedError) as refused:
        await subrequests().fetch("GET", url, {}, None, GATE)
    assert refused.value.reason.startswith(reason)


async def test_the_allow_list_admits_what_the_crawler_may_reach() -> None:
    assert await subrequests(("127.0.0.0/8",)).refusal("http://127.0.0.1:8000/") is None


def test_each_job_keeps_its_gate_until_its_limits_change_or_it_falls_silent() -> None:
    now = [0.0]
    gates = JobGates(idle_seconds=60, clock=lambda: now[0])
    polite = RenderPoliteness(concurrency=2, delay=0.5)
    first = gates.gate("a", polite)
    assert gates.gate("a", polite) is first
    assert gates.gate("a", RenderPoliteness(concurrency=1)) is not first
    now[0] = 120
    gates.gate("b", polite)
    assert len(gates) == 1  # "a" fell silent
