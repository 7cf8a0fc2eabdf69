"""The fetcher against in-memory responses: limits, inflation, retries, redirects."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator

import httpx

from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.safety import AddressGuard

PAGE = b"<html><head><title>t</title></head><body><p>hello</p></body></html>"


def fetcher(
    handler: Callable[[httpx.Request], httpx.Response], **limits: float
) -> tuple[Fetcher, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    defaults: dict[str, float] = {"retry_backoff": 0.0, "max_bytes": 1024 * 1024}
    return (
        Fetcher(
            client,
            AddressGuard(["127.0.0.0/8"]),
            FetchLimits(**{**defaults, **limits}),  # type: ignore[arg-type]
            sleep=sleep,
        ),
        slept,
    )


def response(status: int, body: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"content-type": "text/html", **headers},
        stream=httpx.ByteStream(body),
    )


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for chunk in self._chunks:
            yield chunk


def bomb() -> Iterator[bytes]:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    for _ in range(256):  # 256 MiB inflated, never all produced
        out = squeeze.compress(bytes(1024 * 1024))
        if out:
            yield out
    yield squeeze.flush()


async def test_a_gzip_bomb_is_refused_while_streaming() -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/html", "content-encoding": "gzip"},
            stream=Chunks(bomb()),
        )

    result = await fetcher(handler, max_bytes=4 * 1024 * 1024)[0].fetch("http://127.0.0.1/")
    assert (result.outcome.value, result.reason) == ("skipped", "decompression_bomb")


async def test_compressed_pages_are_inflated_and_big_ones_capped() -> None:
    pages = {
        "/gz": response(200, gzip.compress(PAGE), **{"content-encoding": "gzip"}),
        "/deflate": response(200, zlib.compress(PAGE), **{"content-encoding": "deflate"}),
        "/raw-deflate": response(
            200, zlib.compress(PAGE, wbits=-15), **{"content-encoding": "deflate"}
        ),
        "/br": response(200, b"...", **{"content-encoding": "br"}),
    }
    f, _ = fetcher(lambda r: pages[r.url.path], max_bytes=2048)
    for path in ("/gz", "/deflate", "/raw-deflate"):
        result = await f.fetch(f"http://127.0.0.1{path}")
        assert result.body == PAGE, path
    assert (await f.fetch("http://127.0.0.1/br")).reason == "decoding_error"

    def big(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/html"}, stream=Chunks(iter([b"x" * 1500] * 3))
        )

    capped = await fetcher(big, max_bytes=2048)[0].fetch("http://127.0.0.1/")
    assert (capped.outcome.value, capped.reason) == ("skipped", "too_large")


async def test_server_errors_are_retried_a_bounded_number_of_times_with_backoff() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return response(502, b"bad gateway")

    f, slept = fetcher(handler, retries=2, retry_backoff=0.1)
    result = await f.fetch("http://127.0.0.1/")
    assert (result.reason, result.attempts, len(calls)) == ("http_502", 3, 3)
    assert len(slept) == 2
    assert 0.05 <= slept[0] <= 0.15
    assert 0.1 <= slept[1] <= 0.3  # exponential, jittered


async def test_a_retry_after_longer_than_the_operator_allows_fails_at_once() -> None:
    f, _ = fetcher(lambda _: response(429, b"", **{"retry-after": "3600"}), max_retry_after=60)
    result = await f.fetch("http://127.0.0.1/")
    assert (result.reason, result.attempts) == ("http_429", 1)


async def test_client_errors_are_not_retried() -> None:
    f, _ = fetcher(lambda _: response(404, b"gone"))
    result = await f.fetch("http://127.0.0.1/")
    assert (result.outcome.value, result.reason, result.attempts) == ("failed", "http_404", 1)


async def test_a_redirect_to_a_private_address_is_refused_before_connecting() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return response(301, b"", location="http://10.0.0.7/admin")

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    f = Fetcher(client, AddressGuard(), FetchLimits())
    public = await f.fetch("http://8.8.8.8/")
    assert (public.outcome.value, public.reason) == ("skipped", "blocked_address")
    assert seen == ["http://8.8.8.8/"]
