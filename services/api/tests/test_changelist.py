"""A re-crawl's change list, paged through any way: every URL with content in either run
appears exactly once, with its change, whatever the page size and scan bound."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crawl_api.changelist import ChangeReader
from crawl_schema.keys import page_id


class Found:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._docs = docs
        self._limit = 0

    def sort(self, keys: list[tuple[str, int]]) -> Found:
        assert keys == [("_id", 1)]
        self._docs.sort(key=lambda d: d["_id"])
        return self

    def limit(self, n: int) -> Found:
        self._limit = n
        return self

    def __aiter__(self) -> Any:
        async def gen() -> Any:
            for doc in self._docs[: self._limit or None]:
                yield doc

        return gen()


class Pages:
    """Page records by ``_id``, answering ``_id`` range reads as the server does."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.read = 0

    def put(
        self, job_id: str, url: str, outcome: str, content_hash: str | None, change: str | None
    ) -> None:
        _id = page_id(job_id, url)
        self.docs[_id] = {
            "_id": _id,
            "url": url,
            "outcome": outcome,
            "content_hash": content_hash,
            "change": change,
            "title": url,
        }

    def find(self, query: dict[str, Any], _: Any) -> Found:
        bounds = query["_id"]
        found = [
            d
            for i, d in self.docs.items()
            if all({"$gt": i > v, "$gte": i >= v, "$lt": i < v}[op] for op, v in bounds.items())
        ]
        self.read += 1
        return Found(found)


OUTCOMES = st.sampled_from(["fetched", "unchanged", "failed", "skipped", None])  # None: absent
TEXTS = st.sampled_from(["t1", "t2"])


@settings(max_examples=150, deadline=None)
@given(
    urls=st.lists(st.tuples(OUTCOMES, OUTCOMES, TEXTS, TEXTS), min_size=0, max_size=40),
    scan=st.integers(min_value=1, max_value=7),
    limit=st.integers(min_value=1, max_value=9),
    complete=st.booleans(),
)
async def test_every_url_with_content_in_either_run_appears_once_with_its_change(
    urls: list[tuple[str | None, str | None, str, str]], scan: int, limit: int, complete: bool
) -> None:
    pages = Pages()
    expected: dict[str, str] = {}
    for i, (before, drawn, old_text, new_text) in enumerate(urls):
        url = f"http://h/{i}"
        now = drawn
        if drawn == "unchanged" and before not in ("fetched", "unchanged"):
            now = "fetched"  # a re-crawl says unchanged only against content
        if before is not None:
            pages.put(
                "j1", url, before, old_text if before in ("fetched", "unchanged") else None, None
            )
        if now is not None:
            text = old_text if now == "unchanged" else new_text
            content = now in ("fetched", "unchanged")
            pages.put("j2", url, now, text if content else None, None)
        had, has = before in ("fetched", "unchanged"), now in ("fetched", "unchanged")
        if has and not had:
            expected[url] = "added"
        elif has and had:
            same = now == "unchanged" or new_text == old_text
            expected[url] = "unchanged" if same else "changed"
        elif had:
            expected[url] = "removed" if complete else "not_visited"
    pages.put("other", "http://h/0", "fetched", "t1", None)  # another job's records: never read
    reader = ChangeReader(pages, scan=scan)
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await reader.page(
            "j2",
            "j1",
            after=cursor,
            gone="removed" if complete else "not_visited",
            kinds=None,
            limit=limit,
        )
        assert len(page.items) <= limit
        seen.extend((item["url"], item["change"]) for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert cursor is None
    assert sorted(seen) == sorted(expected.items())


async def test_a_kind_filter_keeps_only_that_change() -> None:
    pages = Pages()
    pages.put("j1", "http://h/a", "fetched", "x", None)
    pages.put("j1", "http://h/b", "fetched", "x", None)
    pages.put("j2", "http://h/a", "fetched", "y", "changed")
    pages.put("j2", "http://h/c", "fetched", "z", "added")
    page = await ChangeReader(pages).page(
        "j2", "j1", after=None, gone="removed", kinds=frozenset({"removed"}), limit=10
    )
    assert [(i["url"], i["change"]) for i in page.items] == [("http://h/b", "removed")]
    assert page.items[0]["previous_content_hash"] == "x"
    assert page.items[0]["content_hash"] is None
    assert page.next_cursor is None
