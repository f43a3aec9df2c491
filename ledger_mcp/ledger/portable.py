"""SQL expressions that give the same answer on SQLite and PostgreSQL.

- `binary(expr)`: order and compare text by code point. SQLite's default collation is binary;
  a PostgreSQL database orders text by its locale (e.g. en_US), which may sort differently.
- `lower(expr)`: Unicode lower case. SQLite's built-in lower() folds ASCII only, PostgreSQL's
  follows the database's locale; both are replaced by full Unicode lower-casing (Python's
  `str.lower` registered on SQLite connections, ICU on PostgreSQL), so that a search for
  "übrige" finds "Übrige Steuern" on either database. Lower-case the search term with `str.lower`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

# The SQLite function registered on every connection (see db.py) that `lower` compiles to there.
SQLITE_LOWER = "ledger_lower"


class binary(FunctionElement[Any]):  # lower case: used like a SQL function
    """`expr` ordered and compared by code point (COLLATE "C" on PostgreSQL)."""

    name = "binary"
    inherit_cache = True

    def __init__(self, expr: Any) -> None:
        super().__init__(expr)
        self.type = expr.type


class lower(FunctionElement[str]):  # lower case: used like a SQL function
    """Unicode lower case of `expr`, the same on every database."""

    name = "lower"
    inherit_cache = True
    type = String()


def _argument(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    (argument,) = element.clauses.clauses
    return compiler.process(argument, **kw)


@compiles(binary)
def _binary_default(element: binary, compiler: SQLCompiler, **kw: Any) -> str:
    return _argument(element, compiler, **kw)


@compiles(binary, "postgresql")
def _binary_postgresql(element: binary, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({_argument(element, compiler, **kw)} COLLATE "C")'


@compiles(lower)
def _lower_default(element: lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({_argument(element, compiler, **kw)})"


@compiles(lower, "postgresql")
def _lower_postgresql(element: lower, compiler: SQLCompiler, **kw: Any) -> str:
    # The ICU root locale lower-cases all of Unicode whatever the database's own locale is.
    return f'lower(({_argument(element, compiler, **kw)}) COLLATE "und-x-icu")'
