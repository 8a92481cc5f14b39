"""Pages of query results: ``db.paginate()`` and its :class:`Pagination` (Flask-SQLAlchemy's
``paginate``, as its users expect it: bad page numbers are 404s, never 500s).

``page`` and ``per_page`` come from the call or from the query string; the count query is
skipped when the page is not full. SQLAlchemy is imported only when a page is fetched.
"""

from __future__ import annotations

import functools
import typing as t

from flask import has_request_context, request
from werkzeug.exceptions import NotFound

from ._compat import is_plain_select, result_needs_unique

if t.TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import Select

#: ``per_page`` when neither the call nor the query string gives one.
PER_PAGE = 20
#: the largest ``per_page`` a query string may ask for (larger values are clamped).
MAX_PER_PAGE = 100
_MAX_OFFSET = 2**62


def paginate(
    session: Session,
    statement: Select[t.Any],
    *,
    page: int | None = None,
    per_page: int | None = None,
    max_per_page: int | None = MAX_PER_PAGE,
    error_out: bool = True,
) -> Pagination:
    """One page of ``statement``'s results in ``session`` (see ``SQLAlchemy.paginate``)."""
    args = request.args if (page is None or per_page is None) and has_request_context() else None
    page = _page_arg(args, "page", page, 1, error_out)
    per_page = _page_arg(args, "per_page", per_page, PER_PAGE, error_out)
    if max_per_page is not None:
        per_page = min(per_page, max_per_page)
    offset = (page - 1) * per_page
    if offset > _MAX_OFFSET:
        if error_out:
            raise NotFound(f"Page {page} does not exist.")
        page, offset = 1, 0
    items, total = _fetch_page(session, statement, offset, per_page)
    if not items and page > 1 and error_out:
        raise NotFound(f"Page {page} does not exist.")
    return Pagination(items, page, per_page, total)


def _page_arg(
    args: t.Mapping[str, str] | None, name: str, given: int | None, default: int, error_out: bool
) -> int:
    if given is None:
        raw = args.get(name) if args is not None else None
        if raw is None or raw == "":
            return default
        try:
            if not (raw.isascii() and raw.isdigit()):  # no signs, spaces, "1_0" or "١"
                raise ValueError(raw)
            given = int(raw)
        except ValueError:
            if error_out:
                shown = raw if len(raw) <= 20 else raw[:20] + "..."
                raise NotFound(
                    f"{name} must be a whole number of 1 or more, not {shown!r}."
                ) from None
            return default
    if given < 1:
        if error_out:
            raise NotFound(f"{name} must be 1 or more, not {given}.")
        return default
    return given


def _fetch_page(
    session: Session, statement: Select[t.Any], offset: int, limit: int
) -> tuple[list[t.Any], int]:
    """The rows of one page and the total count.

    The count query is skipped when the page itself tells the total: a page that is not full
    is the last one, so ``total = offset + len(items)``. (One query with ``count(*) OVER ()``
    was tried: on SQLite it made a page slower, as the window reads every row before LIMIT.)
    """
    result = session.execute(statement.limit(limit).offset(offset))
    if result_needs_unique(result):  # joined eager loading of a collection
        result = result.unique()
    # One column (an entity, or one value): its values; several: rows. (Asked of the result,
    # not of the statement, whose column_descriptions are computed anew for each statement.)
    single = len(result.keys()) == 1
    items = list(result.scalars().all() if single else result.all())
    if (items or offset == 0) and len(items) < limit:
        return items, offset + len(items)
    return items, int(session.execute(_count_statement(statement)).scalar_one())


def _count_statement(statement: Select[t.Any]) -> Select[t.Any]:
    """``SELECT count(*)`` of ``statement``'s rows: directly when it is a plain select (cheaper
    to build and to run), else over it as a subquery."""
    select_class, select, count = _count_parts()
    if isinstance(statement, select_class) and is_plain_select(statement):
        counted = statement.with_only_columns(count, maintain_column_froms=True)
        return t.cast("Select[t.Any]", counted.order_by(None))
    return t.cast("Select[t.Any]", select(count).select_from(statement.order_by(None).subquery()))


@functools.cache
def _count_parts() -> tuple[t.Any, t.Any, t.Any]:
    """SQLAlchemy's ``Select`` and ``select``, and one ``count(*)`` expression for every count
    query (SQL expressions are immutable; building ``func.count()`` anew took a third of the
    time of building the count query), imported on the first count."""
    from sqlalchemy import Select, func, select

    return Select, select, func.count()


class Pagination:
    """One page of results: ``items``, ``page``, ``per_page``, ``total`` and navigation.

    Example in a template::

        {% for user in page.items %}...{% endfor %}
        {% for n in page.iter_pages() %}
          {% if n is none %}…{% elif n == page.page %}<b>{{ n }}</b>
          {% else %}<a href="?page={{ n }}">{{ n }}</a>{% endif %}
        {% endfor %}
    """

    __slots__ = ("items", "page", "per_page", "total")

    def __init__(self, items: list[t.Any], page: int, per_page: int, total: int) -> None:
        self.items = items
        self.page = page
        self.per_page = per_page
        self.total = total

    def __repr__(self) -> str:
        return f"<Pagination page {self.page}/{self.pages}, {self.total} items>"

    def __iter__(self) -> t.Iterator[t.Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def pages(self) -> int:
        """The number of pages (0 when there are no items)."""
        return -(-self.total // self.per_page) if self.per_page else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def iter_pages(
        self,
        *,
        left_edge: int = 2,
        left_current: int = 2,
        right_current: int = 4,
        right_edge: int = 2,
    ) -> t.Iterator[int | None]:
        """Page numbers to show in a pager, with ``None`` where numbers are skipped.

        ``left_edge`` pages at the start, ``left_current`` before and ``right_current`` after
        the current page (the current one included on the right), ``right_edge`` at the end.
        """
        last = self.pages
        shown = set(range(1, min(left_edge, last) + 1))
        shown.update(
            range(max(1, self.page - left_current), min(last, self.page + right_current - 1) + 1)
        )
        shown.update(range(max(1, last - right_edge + 1), last + 1))
        previous = 0
        for number in sorted(shown):
            if number - previous > 1:
                yield None
            yield number
            previous = number
