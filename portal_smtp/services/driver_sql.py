"""Statements handed straight to the database driver, for the worker's per-letter writes."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, bindparam, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class _Prepared:
    sql: str
    #: Parameter names in placeholder order for positional styles (qmark), else None.
    order: tuple[str, ...] | None
    processors: dict[str, Callable[[Any], Any]]

    def convert(self, values: Mapping[str, Any]) -> Mapping[str, Any] | tuple:
        if self.processors:
            values = {**values, **{name: process(values[name])
                                   for name, process in self.processors.items()}}
        return values if self.order is None else tuple(values[name] for name in self.order)


class DriverStatement:
    """Plain SQL with ``:name`` parameters, run by the driver through ``exec_driver_sql``.

    A worker runs a few statements for every letter it sends; through Core's execution path
    each costs about as much again as the driver's own work (bench/bench_outbox.py). The
    text is compiled once per dialect into the driver's parameter style, and only the
    parameters given a type here (datetimes, booleans) are converted, as SQLAlchemy would.
    """

    def __init__(self, sql: str, **types: TypeEngine) -> None:
        self.clause = text(sql).bindparams(
            *(bindparam(name, type_=type_) for name, type_ in types.items()))
        self._prepared: dict[tuple[str, str, str], _Prepared] = {}

    def execute(self, connection: Connection,
                parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> CursorResult:
        """Run once with a mapping, or once per mapping of a list (executemany)."""
        prepared = self._prepare(connection.dialect)
        if isinstance(parameters, Mapping):
            return connection.exec_driver_sql(prepared.sql, prepared.convert(parameters))
        return connection.exec_driver_sql(prepared.sql,
                                          [prepared.convert(p) for p in parameters])

    def _prepare(self, dialect: Dialect) -> _Prepared:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        prepared = self._prepared.get(key)
        if prepared is None:
            compiled = self.clause.compile(dialect=dialect)
            processors = {}
            for name, bind in compiled.binds.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors[name] = process
            order = tuple(compiled.positiontup) if compiled.positional else None
            prepared = self._prepared[key] = _Prepared(compiled.string, order, processors)
        return prepared
