"""Queries on indexed fields: the same answers as MongoDB semantics give, at a cost that follows
what a query returns rather than the size of the collection.

The embedded FerretDB build (``deploy/ferretdb/patches``) translates filters and sorts on
indexed fields to SQLite and reports ``queryPushdown`` in ``buildInfo``. Its translation must
return a superset of the matching documents (the server still applies the whole filter) and
push a sort only where SQLite's order is MongoDB's. The correctness test compares every answer
with a reference evaluated here in Python, on data with the types that could trip that up:
ints, longs, doubles, dates, strings, missing fields, nulls and wrong-typed values in indexed
fields, string and ObjectId ids. The same filter wrapped in ``$and`` (which the build never
pushes down) must give the same answer too. The cost test runs the services' query shapes on
2,000 and on 200,000 documents and compares the median times; on the pushdown build,
``explain`` must also show that SQLite searches an index (a FerretDB build without pushdown
reads whole collections, about 100 times slower on the large one: the cost test skips it).
Nothing here depends on FerretDB's answers beyond MongoDB semantics, so the tests also hold on
MongoDB 7, where the plan assertions are not made.
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crawl_stack import Services

pytestmark = pytest.mark.integration

Doc = dict[str, Any]
Filter = Mapping[str, Any]
Sort = Sequence[tuple[str, int]]

BASE = datetime(2024, 1, 1, tzinfo=UTC)

INDEXES: tuple[Sort, ...] = (
    [("job_id", 1), ("order", 1)],
    [("tenant", 1), ("list_key", 1)],
    [("tenant", 1), ("status", 1), ("list_key", 1)],
    [("expires_at", 1)],
)


async def server_kind(db: AsyncDatabase[Doc]) -> tuple[bool, bool]:
    """(FerretDB, pushdown build) for the server behind ``db``."""
    info = await db.client.admin.command("buildInfo")
    return "ferretdbVersion" in info, "queryPushdown" in info


async def create_indexes(collection: AsyncCollection[Doc]) -> None:
    for keys in INDEXES:
        await collection.create_index(list(keys))


# ------------------------------------------------------------------ reference semantics


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def lookup(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def type_rank(value: Any) -> int:
    """MongoDB's order of BSON types in comparisons and sorts (missing counts as null)."""
    if value is MISSING or value is None:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, Mapping):
        return 4
    if isinstance(value, list):
        return 5
    if isinstance(value, bytes):
        return 6
    if isinstance(value, ObjectId):
        return 7
    if isinstance(value, datetime):
        return 9
    raise TypeError(f"no rank for {value!r}")


def compare(a: Any, b: Any) -> int:
    ra, rb = type_rank(a), type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 1:
        return 0
    return -1 if a < b else (1 if a > b else 0)


def equal(value: Any, arg: Any) -> bool:
    if arg is None:
        return value is MISSING or value is None
    return type_rank(value) == type_rank(arg) and compare(value, arg) == 0


_COMPARISONS: dict[str, Callable[[int], bool]] = {
    "$gt": lambda c: c > 0,
    "$gte": lambda c: c >= 0,
    "$lt": lambda c: c < 0,
    "$lte": lambda c: c <= 0,
}


def field_matches(value: Any, condition: Any) -> bool:
    if not (isinstance(condition, Mapping) and condition and all(k[0] == "$" for k in condition)):
        return equal(value, condition)
    for op, arg in condition.items():
        if op == "$eq":
            ok = equal(value, arg)
        elif op == "$ne":
            ok = not equal(value, arg)
        elif op == "$in":
            ok = any(equal(value, a) for a in arg)
        elif op == "$exists":
            ok = (value is not MISSING) == bool(arg)
        elif op in _COMPARISONS:
            # type bracketing: a comparison only matches values of the bound's type
            ok = (
                value is not MISSING
                and type_rank(value) == type_rank(arg)
                and _COMPARISONS[op](compare(value, arg))
            )
        else:
            raise ValueError(f"the reference does not know {op}")
        if not ok:
            return False
    return True


def matches(doc: Mapping[str, Any], flt: Filter) -> bool:
    for key, condition in flt.items():
        if key == "$or":
            ok = any(matches(doc, sub) for sub in condition)
        elif key == "$and":
            ok = all(matches(doc, sub) for sub in condition)
        else:
            ok = field_matches(lookup(doc, key), condition)
        if not ok:
            return False
    return True


def sort_key(doc: Mapping[str, Any], sort: Sort) -> tuple[Any, ...]:
    """The values ``doc`` is sorted by; a missing field sorts like null."""
    values = (lookup(doc, path) for path, _ in sort)
    return tuple(None if v is MISSING else v for v in values)


def compare_docs(sort: Sort, a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    for path, direction in sort:
        c = compare(lookup(a, path), lookup(b, path))
        if c:
            return c * direction
    return 0


def evaluate(docs: Sequence[Doc], query: Query) -> list[Doc]:
    """The whole answer, sorted; ``skip`` and ``limit`` are left to the comparison."""
    found = [d for d in docs if matches(d, query.filter)]
    if query.sort:
        found.sort(key=functools.cmp_to_key(functools.partial(compare_docs, query.sort)))
    return found


@dataclass(frozen=True)
class Query:
    filter: Filter
    sort: Sort = ()
    skip: int = 0
    limit: int = 0


def check_answer(query: Query, expected: list[Doc], got: list[Doc]) -> None:
    """``got`` is the server's answer to ``query``; ``expected`` the reference's whole answer.

    Documents with equal sort keys may come in any order, and a limit may cut such a run of
    ties anywhere, so what is compared is: the number of documents, every document is one that
    matches, no document twice, and the sequence of sort keys (all of the answer without sort
    and without limit).
    """
    by_id = {repr(d["_id"]): d for d in expected}
    end = query.skip + query.limit if query.limit else None
    window = expected[query.skip : end] if query.sort else expected
    if query.sort or not query.limit:
        assert len(got) == len(window), (query, [d["_id"] for d in got])
    else:
        assert len(got) == min(query.limit, max(len(expected) - query.skip, 0)), query
    ids = [repr(d["_id"]) for d in got]
    assert len(set(ids)) == len(ids), (query, ids)
    for doc in got:
        assert by_id.get(repr(doc["_id"])) == doc, (query, doc)
    if query.sort:
        assert [sort_key(d, query.sort) for d in got] == [
            sort_key(d, query.sort) for d in window
        ], query
    elif not query.limit:
        assert sorted(ids) == sorted(by_id), query


# ------------------------------------------------------------------ correctness


def mixed_documents() -> list[Doc]:
    """Deterministic documents of every type an indexed field could meet."""
    rng = random.Random(20240601)
    docs: list[Doc] = []
    for i in range(420):
        doc: Doc = {"_id": ObjectId(f"{i:024x}") if i % 10 == 0 else f"job:{i:04d}"}
        if i % 37 == 0:
            pass  # no job_id
        elif i % 41 == 0:
            doc["job_id"] = None
        elif i % 43 == 0:
            doc["job_id"] = 7
        else:
            doc["job_id"] = f"j{i % 4}"
        # unique order values whatever their type, so that sorts have no ties
        if i % 29 == 0:
            pass
        elif i % 31 == 0:
            doc["order"] = None
        elif i % 53 == 0:
            doc["order"] = str(i * 3)  # a wrong-typed (TEXT) order
        elif i % 7 == 3:
            doc["order"] = i * 3 + 0.5
        elif i % 5 == 1:
            doc["order"] = Int64(i * 3)
        else:
            doc["order"] = i * 3
        if i % 47:
            doc["tenant"] = f"t{i % 3}"
        doc["status"] = None if i % 59 == 0 else rng.choice(["queued", "running", "done", "done"])
        if i % 67 == 0:
            doc["list_key"] = 12345
        elif i % 61:
            doc["list_key"] = f"k{rng.randrange(10**6):06d}-{i:04d}"
        if i == 5:
            doc["expires_at"] = datetime(1950, 6, 1, tzinfo=UTC)  # before the epoch
        elif i % 73 == 0:
            doc["expires_at"] = i  # an int where dates are
        elif i % 79 == 0:
            doc["expires_at"] = "2024-01-01"
        elif i % 71:
            doc["expires_at"] = BASE + timedelta(seconds=13 * i)
        doc["note"] = f"n{i % 5}"
        docs.append(doc)
    # string ids whose JSON text has escapes or a space (found by equality, and ordered by
    # range only where no other id shares their prefix)
    for n, special in enumerate(["job:sp ace", "job:lt<gt", "job:amp&x", 'job:quo"te']):
        docs.append(
            {
                "_id": special,
                "job_id": "j1",
                "order": Int64(2**40 + n),
                "tenant": "t1",
                "status": "queued",
                "list_key": f"k999999-{n}",
                "expires_at": BASE + timedelta(days=1000 + n),
                "note": "special",
            }
        )
    return docs


def correctness_queries() -> list[Query]:
    date = timedelta
    return [
        Query({"job_id": "j1"}),
        Query({"job_id": "j1", "order": {"$gt": 300}}, [("order", 1)], limit=10),
        Query({"job_id": "j1", "order": {"$gt": 300}}, [("order", -1)], limit=10),
        Query({"job_id": "j2", "order": {"$gte": 90, "$lt": 600}}, [("order", 1)]),
        Query({"order": {"$lt": 200}}, [("order", -1)]),
        Query({"order": {"$in": [3, 6, 9, 12, Int64(15), 300, 303]}}, [("order", 1)]),
        Query({"order": "159"}),
        Query({"order": {"$gt": 2.5, "$lt": 100}}, [("order", 1)]),
        Query({"order": {"$gt": 100}, "job_id": None}, [("order", 1)]),
        Query({"order": {"$gt": Int64(2**40)}}, [("order", -1)]),
        Query({"job_id": {"$in": ["j0", "j3"]}, "note": "n1"}, [("job_id", 1), ("order", -1)]),
        Query({"job_id": 7}),
        Query({"job_id": "j1", "order": {"$gt": 100, "$ne": 303}}, [("order", 1)], skip=2),
        Query({"job_id": "j1", "order.x": 1}),
        Query({"$or": [{"job_id": "j1"}, {"order": {"$lt": 50}}]}, [("order", 1)]),
        Query(
            {"tenant": "t1", "status": {"$in": ["queued", "running"]}, "list_key": {"$lt": "k5"}},
            [("list_key", -1)],
            limit=20,
        ),
        Query(
            {
                "tenant": "t1",
                "status": {"$in": ["queued", "running", "queued"]},
                "list_key": {"$gte": ""},
            },
            [("list_key", -1)],
            skip=3,
            limit=7,
        ),
        Query(
            {"tenant": "t0", "status": {"$in": ["done", "failed"]}, "list_key": {"$gte": "k"}},
            [("list_key", 1)],
        ),
        Query(
            {"tenant": {"$in": ["t0", "t2"]}, "list_key": {"$gte": "k2"}},
            [("tenant", 1), ("list_key", 1)],
            limit=30,
        ),
        Query({"tenant": "t0", "list_key": {"$lt": "k3"}}, [("list_key", -1)], skip=2, limit=5),
        Query({"list_key": 12345}),
        Query({"status": {"$in": ["done", None]}, "tenant": "t2"}),
        Query({"_id": {"$gt": "job:", "$lt": "job;"}}, [("_id", 1)], limit=50),
        Query({"_id": {"$gt": "job:", "$lt": "job;"}}, [("_id", -1)]),
        Query({"_id": {"$gt": "job:0100", "$lte": "job:0200"}}, [("_id", -1)]),
        Query({"_id": {"$in": ["job:0011", "job:sp ace", ObjectId(f"{20:024x}"), "nope"]}}),
        Query({"_id": "job:lt<gt", "tenant": "t1"}),
        Query({"_id": 'job:quo"te'}),
        Query(
            {"_id": {"$gte": ObjectId(f"{0:024x}"), "$lt": ObjectId(f"{200:024x}")}}, [("_id", 1)]
        ),
        Query({"expires_at": {"$lt": BASE + date(seconds=2000)}}, limit=100),
        Query({"expires_at": {"$lt": BASE + date(seconds=2000)}}),
        Query(
            {"expires_at": {"$gte": BASE + date(seconds=1000), "$lt": BASE + date(seconds=3000)}},
            [("expires_at", 1)],
        ),
        Query({"expires_at": {"$lt": BASE}}, [("expires_at", -1)]),
        Query({"expires_at": BASE + date(seconds=13 * 22)}),
        Query({"expires_at": {"$lte": 400}}),
    ]


async def answer(collection: AsyncCollection[Doc], query: Query) -> list[Doc]:
    cursor = collection.find(query.filter)
    if query.sort:
        cursor = cursor.sort(list(query.sort))
    return await cursor.skip(query.skip).limit(query.limit).to_list()


async def test_answers_equal_the_reference_on_mixed_types(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    collection = db.pushdown_mixed
    await collection.drop()
    docs = mixed_documents()
    await collection.insert_many([dict(d) for d in docs])
    await create_indexes(collection)

    for query in correctness_queries():
        expected = evaluate(docs, query)
        check_answer(query, expected, await answer(collection, query))
        # the same filter under $and: never pushed down, answered by the server alone
        unpushed = Query({"$and": [query.filter]}, query.sort, query.skip, query.limit)
        check_answer(query, expected, await answer(collection, unpushed))
        for skip, limit in ((0, 0), (query.skip, query.limit), (1, 3)):
            # no `$limit: 0` stage: MongoDB refuses it
            options: dict[str, Any] = {"skip": skip} if skip else {}
            if limit:
                options["limit"] = limit
            got = await collection.count_documents(query.filter, **options)
            rest = max(len(expected) - skip, 0)
            assert got == (min(rest, limit) if limit else rest), (query, skip, limit)
        if query.sort:
            first = await collection.find_one(query.filter, sort=list(query.sort))
            if expected:
                assert first is not None
                assert sort_key(first, query.sort) == sort_key(expected[0], query.sort)
            else:
                assert first is None

    await _check_writes(collection, docs)


async def _check_writes(collection: AsyncCollection[Doc], docs: list[Doc]) -> None:
    """Updates, deletes and claims with pushed-down filters and sorts, against the reference."""
    model = {repr(d["_id"]): d for d in docs}

    async def same_content() -> None:
        got = {repr(d["_id"]): d for d in await collection.find({}).to_list()}
        assert got == model

    f: Filter = {"job_id": "j2", "order": {"$gte": 100, "$lt": 700}}
    result = await collection.update_many(f, {"$set": {"note": "updated"}})
    hits = [d for d in model.values() if matches(d, f)]
    assert result.matched_count == len(hits) > 0
    for d in hits:
        d["note"] = "updated"
    await same_content()

    f = {"_id": {"$gt": "job:0300", "$lt": "job:0330"}, "tenant": "t0"}
    result = await collection.update_many(f, {"$inc": {"bumped": 1}})
    hits = [d for d in model.values() if matches(d, f)]
    assert result.matched_count == len(hits) > 0
    for d in hits:
        d["bumped"] = 1
    await same_content()

    f = {"expires_at": {"$lt": BASE + timedelta(seconds=600)}}
    deleted = await collection.delete_many(f)
    hits = [d for d in model.values() if matches(d, f)]
    assert deleted.deleted_count == len(hits) > 0
    for d in hits:
        del model[repr(d["_id"])]
    await same_content()

    # claims: the first unclaimed document in the sort order, one at a time
    claims: list[tuple[Filter, Sort]] = [
        ({"job_id": "j0", "order": {"$gt": 60}}, [("order", 1)]),
        ({"job_id": "j3", "order": {"$lt": 900}}, [("order", -1)]),
        (
            {"tenant": "t2", "status": {"$in": ["queued", "running"]}, "list_key": {"$gt": ""}},
            [("list_key", -1)],
        ),
        ({"job_id": {"$in": ["j1", "j2"]}}, [("order", 1)]),  # a sort the server does itself
    ]
    for claim_filter, sort in claims:
        f = {**claim_filter, "claimed": {"$exists": False}}
        for _ in range(3):
            got = await collection.find_one_and_update(
                f,
                {"$set": {"claimed": True}},
                sort=list(sort),
                return_document=ReturnDocument.AFTER,
            )
            candidates = evaluate(list(model.values()), Query(f, sort))
            assert candidates, f
            assert got is not None
            assert sort_key(got, sort) == sort_key(candidates[0], sort), (f, got)
            model[repr(got["_id"])]["claimed"] = True
        await same_content()

    await collection.drop()


# ------------------------------------------------------------------ cost


def shaped_documents(start: int, stop: int) -> list[Doc]:
    """Documents shaped like the services' jobs and pages, numbered ``start`` to ``stop``."""
    return [
        {
            "_id": f"job:{i:07d}",
            "job_id": f"j{i % 20}",
            "order": i,
            "tenant": f"t{i % 4}",
            "status": "queued" if i % 50 == 7 else ("running" if i % 70 == 3 else "done"),
            "list_key": f"k{i:07d}",
            "expires_at": BASE + timedelta(seconds=i),
            "pad": "x" * 40,
        }
        for i in range(start, stop)
    ]


async def fill(collection: AsyncCollection[Doc], n: int) -> None:
    await collection.drop()
    batch = 5000
    for start in range(0, n, batch):
        await collection.insert_many(shaped_documents(start, min(start + batch, n)))
    await create_indexes(collection)  # after the inserts: one pass per index


@dataclass
class Shape:
    """One query shape; ``run`` performs it on a collection of ``n`` documents for the
    ``rep``-th time and returns the number of documents it answered."""

    name: str
    run: Callable[[AsyncCollection[Doc], int, int], Awaitable[int]]
    explain: Callable[[int], tuple[Filter, Sort, int]] | None = None
    times: dict[int, list[float]] = field(default_factory=dict)


def _jobs_filter(n: int) -> Filter:
    return {
        "tenant": "t1",
        "status": {"$in": ["queued", "running"]},
        "list_key": {"$lt": f"k{n * 3 // 4:07d}"},
    }


def cost_shapes() -> list[Shape]:
    def pages(n: int) -> tuple[Filter, Sort, int]:
        return {"job_id": "j3", "order": {"$gt": n // 2}}, [("order", 1)], 50

    def jobs(n: int) -> tuple[Filter, Sort, int]:
        return _jobs_filter(n), [("list_key", -1)], 20

    def ids(n: int) -> tuple[Filter, Sort, int]:
        return {"_id": {"$gt": "job:", "$lt": "job;"}}, [("_id", 1)], 200

    def expired(n: int) -> tuple[Filter, Sort, int]:
        return {"expires_at": {"$lt": BASE + timedelta(seconds=n // 2)}}, [], 100

    def finder(
        make: Callable[[int], tuple[Filter, Sort, int]],
    ) -> Callable[[AsyncCollection[Doc], int, int], Awaitable[int]]:
        async def run(collection: AsyncCollection[Doc], n: int, rep: int) -> int:
            flt, sort, limit = make(n)
            cursor = collection.find(flt)
            if sort:
                cursor = cursor.sort(list(sort))
            return len(await cursor.limit(limit).to_list())

        return run

    async def count(collection: AsyncCollection[Doc], n: int, rep: int) -> int:
        lo = n - 2000
        return await collection.count_documents(
            {"job_id": "j3", "order": {"$gte": lo, "$lt": lo + 2000}}
        )

    async def claim(collection: AsyncCollection[Doc], n: int, rep: int) -> int:
        got = await collection.find_one_and_update(
            {"job_id": "j5", "order": {"$gt": n - 2000}, "claimed": {"$exists": False}},
            {"$set": {"claimed": True}},
            sort=[("order", 1)],
        )
        return int(got is not None)

    async def update(collection: AsyncCollection[Doc], n: int, rep: int) -> int:
        lo = n - 2000
        result = await collection.update_many(
            {"job_id": "j7", "order": {"$gte": lo, "$lt": lo + 400}}, {"$inc": {"seen": 1}}
        )
        return result.modified_count

    async def delete(collection: AsyncCollection[Doc], n: int, rep: int) -> int:
        lo = n - 2000 + 200 * rep
        result = await collection.delete_many(
            {"job_id": "j9", "order": {"$gte": lo, "$lt": lo + 200}}
        )
        return result.deleted_count

    return [
        Shape("pages of a job, by order, 50", finder(pages), pages),
        Shape("jobs of some statuses, by list_key desc, 20", finder(jobs), jobs),
        Shape("ids in a prefix range, by _id, 200", finder(ids), ids),
        Shape("expired, 100", finder(expired), expired),
        Shape("count in a range of a job", count),
        Shape("find_one_and_update, by order", claim),
        Shape("update_many in a range of a job", update),
        Shape("delete_many in a range of a job", delete),
    ]


def plan_of(explained: Mapping[str, Any]) -> list[str]:
    planner = explained.get("queryPlanner") or {}
    return [str(row) for row in planner.get("Plan", [])]


async def test_cost_follows_the_answer_not_the_collection(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    ferretdb, pushdown = await server_kind(db)
    if ferretdb and not pushdown:
        pytest.skip("this FerretDB build answers queries by reading whole collections")
    small, large = 2_000, 200_000
    collections = {small: db.pushdown_cost_small, large: db.pushdown_cost_large}
    started = time.perf_counter()
    for n, collection in collections.items():
        await fill(collection, n)
    print(f"\nfilled {small:,} + {large:,} documents in {time.perf_counter() - started:.1f} s")

    shapes = cost_shapes()
    if pushdown:
        for shape in shapes:
            if shape.explain is None:
                continue
            flt, sort, limit = shape.explain(large)
            command: dict[str, Any] = {
                "find": collections[large].name,
                "filter": flt,
                "limit": limit,
            }
            if sort:
                command["sort"] = dict(sort)
            explained = await db.command({"explain": command, "verbosity": "queryPlanner"})
            plan = plan_of(explained)
            print(f"{shape.name}: {explained['queryPlanner'].get('SQL')}\n  " + "\n  ".join(plan))
            assert any("USING INDEX" in row for row in plan), (shape.name, plan)
            assert not any("SCAN " in row or "TEMP B-TREE" in row for row in plan), (
                shape.name,
                plan,
            )
            assert explained["filterPushdown"] is True
            assert explained["sortPushdown"] is bool(sort)

    reps = 9
    for shape in shapes:
        for rep in range(-1, reps):  # one warm-up run each
            for n in (small, large):  # alternately, so that load spikes hit both
                began = time.perf_counter()
                answered = await shape.run(collections[n], n, rep if rep >= 0 else reps)
                elapsed = (time.perf_counter() - began) * 1000
                if rep >= 0:
                    shape.times.setdefault(n, []).append(elapsed)
                assert answered > 0, (shape.name, n)

    print(f"{'query':48} {'2,000 ms':>9} {'200,000 ms':>11} {'ratio':>6}")
    failures = []
    for shape in shapes:
        m_small, m_large = (
            statistics.median(shape.times[small]),
            statistics.median(shape.times[large]),
        )
        ratio = m_large / m_small
        print(f"{shape.name:48} {m_small:9.2f} {m_large:11.2f} {ratio:6.2f}")
        if ratio >= 3:
            failures.append((shape.name, round(m_small, 2), round(m_large, 2)))
    assert not failures, failures

    for collection in collections.values():
        await collection.drop()
