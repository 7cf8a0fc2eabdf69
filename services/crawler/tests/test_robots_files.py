"""robots.txt files shared by the crawls of one worker."""

from __future__ import annotations

from crawl_worker.robots import RobotsCache, RobotsFiles


class Site:
    def __init__(self, status: int | None, body: str) -> None:
        self.status, self.body, self.fetches = status, body, 0

    async def fetch(self, url: str) -> tuple[int | None, str]:
        assert url.endswith("/robots.txt")
        self.fetches += 1
        return self.status, self.body


async def test_crawls_of_one_worker_share_a_fetched_file_until_it_is_old() -> None:
    now = [0.0]
    files = RobotsFiles(300, clock=lambda: now[0])
    site = Site(200, "User-agent: *\nDisallow: /private\n")
    for _ in range(3):  # three crawls, one fetch
        robots = RobotsCache(site.fetch, "bot", files=files)
        assert not await robots.allowed("http://h/private/x")
        assert await robots.allowed("http://h/public")
    assert site.fetches == 1
    now[0] = 300.0
    site.body = "User-agent: *\nDisallow:\n"
    robots = RobotsCache(site.fetch, "bot", files=files)
    assert await robots.allowed("http://h/private/x"), "an old file is fetched again"
    assert site.fetches == 2


async def test_an_unreachable_file_is_not_shared() -> None:
    files = RobotsFiles(300)
    down = Site(503, "")
    assert not await RobotsCache(down.fetch, "bot", files=files).allowed("http://h/")
    down.status = 200
    assert await RobotsCache(down.fetch, "bot", files=files).allowed("http://h/")
    assert down.fetches == 2


async def test_a_zero_ttl_shares_nothing() -> None:
    files = RobotsFiles(0)
    site = Site(404, "")
    for _ in range(2):
        assert await RobotsCache(site.fetch, "bot", files=files).allowed("http://h/")
    assert site.fetches == 2
