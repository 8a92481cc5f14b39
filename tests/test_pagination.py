"""batteries.pagination: pages of a SELECT (``db.paginate``) and the Pagination object.

Runs on SQLite with a SQLAlchemy object of its own (its tables apart from other test modules');
``tests/test_sqla.py`` pages on PostgreSQL and MariaDB too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from batteries import Batteries
from batteries.pagination import Pagination, paginate
from batteries.sqla import SQLAlchemy

pdb = SQLAlchemy()


class PAuthor(pdb.Model):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    books: Mapped[list[PBook]] = relationship(back_populates="author")


class PBook(pdb.Model):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[PAuthor | None] = relationship(back_populates="books")


@pytest.fixture
def papp(app: Batteries) -> Batteries:
    pdb.init_app(app)

    @app.get("/authors")
    def authors():
        page = pdb.paginate(select(PAuthor).order_by(PAuthor.id))
        return {
            "names": [a.name for a in page.items],
            "total": page.total,
            "pages": page.pages,
            "page": page.page,
            "per_page": page.per_page,
        }

    with app.app_context():
        pdb.create_all()
    yield app
    pdb.forget_engines(app)


def fill(app: Batteries, n: int) -> None:
    with app.app_context():
        pdb.session.add_all(PAuthor(name=f"author {i:03d}") for i in range(n))
        pdb.session.commit()


def test_paginate_works_on_any_session(papp):
    fill(papp, 3)
    with papp.test_request_context("/?per_page=2&page=2"):
        page = paginate(pdb.session(), select(PAuthor.name).order_by(PAuthor.id))
        assert (page.items, page.total, page.pages) == (["author 002"], 3, 2)


@pytest.mark.parametrize(
    "query", ["page=4", "page=0", "page=-1", "page=abc", "page=1.5", "per_page=0",
              "per_page=x", f"page={10**30}", "page=99999999999999999",
              "page=1_0", "page=%2B2", "page=%201", "page=" + "9" * 5000]
)
def test_paginate_bad_values_are_404(papp, query):
    fill(papp, 45)
    r = papp.test_client().get(f"/authors?{query}", headers={"Accept": "application/json"})
    assert r.status_code == 404, r.data
    assert r.json["error"] == "Not Found"


def test_paginate_clamps_per_page_and_empty_first_page(papp):
    client = papp.test_client()
    empty = client.get("/authors").json
    assert (empty["names"], empty["total"], empty["pages"]) == ([], 0, 0)
    fill(papp, 150)
    clamped = client.get("/authors?per_page=1000").json
    assert clamped["per_page"] == 100 and len(clamped["names"]) == 100
    assert client.get("/authors?page=").json["page"] == 1


def test_paginate_error_out_false_and_explicit_arguments(papp):
    fill(papp, 5)
    with papp.test_request_context("/?page=zzz&per_page=-3"):
        page = pdb.paginate(select(PAuthor).order_by(PAuthor.id), error_out=False)
        assert (page.page, page.per_page, len(page.items)) == (1, 20, 5)
        past = pdb.paginate(select(PAuthor), page=9, per_page=2, error_out=False)
        assert past.items == [] and past.total == 5
        explicit = pdb.paginate(select(PAuthor).order_by(PAuthor.id), page=2, per_page=2)
        assert [a.name for a in explicit.items] == ["author 002", "author 003"]


def test_paginate_other_statement_shapes(papp):
    with papp.app_context():
        ann = PAuthor(name="ann", books=[PBook(title=f"b{i}") for i in range(3)])
        bob = PAuthor(name="bob", books=[PBook(title="x")])
        pdb.session.add_all([ann, bob])
        pdb.session.commit()
    with papp.test_request_context("/?per_page=1"):
        # joined eager loading of a collection: one author per page, all its books
        page = pdb.paginate(select(PAuthor).options(joinedload(PAuthor.books)).order_by(PAuthor.id))
        assert page.total == 2 and len(page.items[0].books) == 3
        # several columns: rows without the count
        rows = pdb.paginate(select(PAuthor.name, PAuthor.id).order_by(PAuthor.id), per_page=5)
        assert rows.items == [("ann", 1), ("bob", 2)]
        # DISTINCT falls back to a separate count
        titles = pdb.paginate(select(PBook.author_id).distinct().order_by(PBook.author_id))
        assert titles.total == 2 and titles.items == [1]
        # a single column
        names = pdb.paginate(select(PAuthor.name).order_by(PAuthor.name), per_page=5)
        assert names.items == ["ann", "bob"]
        # a join with a filter: the count is of the joined rows, like the items
        joined = select(PAuthor.name, PBook.title).join(PAuthor.books).where(PBook.title != "x")
        pairs = pdb.paginate(joined.order_by(PBook.id), per_page=2)
        assert pairs.total == 3 and pairs.items == [("ann", "b0"), ("ann", "b1")]
        # GROUP BY counts groups
        grouped = select(PBook.author_id, func.count()).group_by(PBook.author_id)
        groups = pdb.paginate(grouped.order_by(PBook.author_id), per_page=1)
        assert groups.total == 2 and groups.items == [(1, 3)]


def test_pagination_navigation():
    page = Pagination(list(range(10)), page=5, per_page=10, total=200)
    assert page.pages == 20
    assert (page.has_prev, page.prev_num, page.has_next, page.next_num) == (True, 4, True, 6)
    assert list(page.iter_pages()) == [1, 2, 3, 4, 5, 6, 7, 8, None, 19, 20]
    assert list(Pagination([], 1, 10, 0).iter_pages()) == []
    last = Pagination([1], 3, 10, 21)
    assert (last.has_next, last.next_num, list(last.iter_pages())) == (False, None, [1, 2, 3])
    assert list(Pagination([1], 1, 10, 10).iter_pages()) == [1]


def test_paginate_counts_only_when_the_page_is_full(papp):
    from sqlalchemy import event

    fill(papp, 40)
    statements: list[str] = []
    with papp.test_request_context("/?page=2"):
        engine = pdb.engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            full = pdb.paginate(select(PAuthor).order_by(PAuthor.id))
            assert (len(full.items), full.total, full.has_next) == (20, 40, False)
            assert len(statements) == 2  # a full page: the count is needed
            statements.clear()
            past = pdb.paginate(select(PAuthor).order_by(PAuthor.id), page=9, error_out=False)
            assert (past.items, past.total) == ([], 40)  # an empty page asks for the count
            statements.clear()
            short = pdb.paginate(select(PAuthor).order_by(PAuthor.id), per_page=15, page=3)
            assert (len(short.items), short.total, short.pages) == (10, 40, 3)
            assert len(statements) == 1  # the last page tells the total
        finally:
            event.remove(engine, "before_cursor_execute", listener)


def test_paginate_one_query_pages_agree_with_counting(papp):
    fill(papp, 47)
    with papp.app_context():
        for shape in (select(PAuthor), select(PAuthor.name), select(PAuthor).where(PAuthor.id > 5)):
            expected = pdb.session.scalar(select(func.count()).select_from(shape.subquery()))
            seen = []
            for number in range(1, 7):
                page = pdb.paginate(shape.order_by(PAuthor.id), page=number, per_page=10,
                                    error_out=False)  # fmt: skip
                assert page.total == expected
                seen.extend(page.items)
            assert len(seen) == expected

