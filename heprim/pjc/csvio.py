"""Reading the two parties' CSV files, with errors that name the file, line and column.

Format (RFC 4180 CSV, UTF-8, an optional byte-order mark):

* the first row is a header naming the columns;
* the identifier column is the first one unless named (``id_column``); identifiers are compared
  exactly, after stripping surrounding whitespace (so ``" ann"`` and ``"ann"`` match, ``"Ann"``
  and ``"ann"`` do not);
* the right file's value columns are all the others unless named (``value_columns``); each value
  is a decimal number (``12``, ``-3.50``, ``1e3``); each column is scaled to integers by
  ``10**decimals`` where ``decimals`` is the largest number of fractional digits in that column
  (at most 18), so sums are exact and print with the column's precision;
* blank lines are skipped; every other row has exactly as many fields as the header.

Duplicates: the left file's repeated identifiers collapse to one (they are a set; the count of
repeats is reported); the right file's are an error naming both lines, unless ``duplicates="sum"``
adds their values.

Every problem raises :class:`CSVError` (a :class:`~heprim.errors.ParameterError`) whose message
starts with ``path, line N, column 'name':`` so the user can go straight to it.
"""

from __future__ import annotations

import csv
import decimal
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from heprim.errors import ParameterError
from heprim.pjc.messages import MAX_DECIMALS
from heprim.pjc.party import Duplicates

__all__ = ["CSVError", "IdentifierTable", "ValueTable", "read_identifiers", "read_values"]

# Exact decimal arithmetic: any rounding would be a bug, so it raises.
_CONTEXT: Final = decimal.Context(
    prec=1000, traps=[decimal.InvalidOperation, decimal.Overflow, decimal.Inexact]
)
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_DIGITS: Final = 300  # a value of more than 300 integer digits is a data error


class CSVError(ParameterError):
    """A CSV file is malformed; ``path``, ``line`` (1-based) and ``column`` say where."""

    def __init__(
        self, path: str | Path, message: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class IdentifierTable:
    """The left file: identifiers (duplicates removed, first occurrence kept)."""

    identifiers: list[str]
    column: str
    rows: int
    duplicates: int


@dataclass(frozen=True)
class ValueTable:
    """The right file: identifiers and values, column ``c`` scaled by ``10**decimals[c]``."""

    identifiers: list[str]
    values: list[tuple[int, ...]]
    id_column: str
    value_columns: tuple[str, ...]
    decimals: tuple[int, ...]
    rows: int
    duplicates: int


def _rows(path: str | Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of every non-blank row, header first."""
    if len(delimiter) != 1:
        raise ParameterError(f"the delimiter is one character, got {delimiter!r}")
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise CSVError(path, f"cannot open the file ({exc.strerror or exc})") from None
    with handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise CSVError(
                    path, "the file is not UTF-8 text", line=reader.line_num + 1
                ) from None
            except csv.Error as exc:
                raise CSVError(path, f"malformed CSV ({exc})", line=reader.line_num) from None
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            yield reader.line_num, fields


def _header(path: str | Path, rows: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]]:
    try:
        line, header = next(rows)
    except StopIteration:
        raise CSVError(
            path, "the file is empty; expected a header row naming the columns"
        ) from None
    names = [h.strip() for h in header]
    for i, name in enumerate(names):
        if not name:
            raise CSVError(
                path, f"header field {i + 1} is empty: every column needs a name", line=line
            )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CSVError(path, f"the header names column {name!r} twice", line=line)
        seen.add(name)
    return line, names


def _column_index(path: str | Path, names: list[str], wanted: str | None, what: str) -> int:
    if wanted is None:
        return 0
    if wanted not in names:
        raise CSVError(
            path,
            f"no {what} column {wanted!r}; the header has {', '.join(repr(n) for n in names)}",
            line=1,
        )
    return names.index(wanted)


def _fields(path: str | Path, line: int, fields: list[str], width: int) -> list[str]:
    if len(fields) != width:
        raise CSVError(
            path, f"expected {width} fields like the header, got {len(fields)}", line=line
        )
    return [f.strip() for f in fields]


def _identifier(path: str | Path, line: int, value: str, column: str) -> str:
    if not value:
        raise CSVError(path, "the identifier is empty", line=line, column=column)
    return value


def read_identifiers(
    path: str | Path, *, column: str | None = None, delimiter: str = ","
) -> IdentifierTable:
    """Read the left party's identifiers (the first column unless ``column`` names one)."""
    rows = _rows(path, delimiter)
    _, names = _header(path, rows)
    index = _column_index(path, names, column, "identifier")
    seen: dict[str, None] = {}
    count = 0
    for line, raw in rows:
        fields = _fields(path, line, raw, len(names))
        seen[_identifier(path, line, fields[index], names[index])] = None
        count += 1
    return IdentifierTable(list(seen), names[index], count, count - len(seen))


def _number(path: str | Path, line: int, text: str, column: str) -> Decimal:
    if not text:
        raise CSVError(path, "the value is missing", line=line, column=column)
    if not _NUMBER.fullmatch(text):
        raise CSVError(
            path,
            f"{text!r} is not a number (write 1234.5 or -3 or 1e3, without thousands separators)",
            line=line,
            column=column,
        )
    value = Decimal(text)
    if value.adjusted() >= _MAX_DIGITS:
        raise CSVError(path, f"{text!r} is too large", line=line, column=column)
    return value


def read_values(
    path: str | Path,
    *,
    id_column: str | None = None,
    value_columns: Sequence[str] | None = None,
    duplicates: Duplicates = "error",
    delimiter: str = ",",
) -> ValueTable:
    """Read the right party's rows: an identifier column and one or more numeric columns.

    Raises:
        CSVError: a missing column, an empty identifier, a non-numeric or missing value, a
            repeated identifier (unless ``duplicates="sum"``), a ragged row, more than 18
            decimals; the message names the file, line and column.
    """
    if duplicates not in ("error", "sum"):
        raise ParameterError(f"duplicates must be 'error' or 'sum', got {duplicates!r}")
    rows = _rows(path, delimiter)
    _, names = _header(path, rows)
    id_index = _column_index(path, names, id_column, "identifier")
    if value_columns is None:
        value_indices = [i for i in range(len(names)) if i != id_index]
    else:
        if not value_columns:
            raise ParameterError("name at least one value column, or omit value_columns")
        value_indices = [_column_index(path, names, c, "value") for c in value_columns]
        if id_index in value_indices:
            raise CSVError(
                path, f"{names[id_index]!r} is the identifier column, not a value column"
            )
        if len(set(value_indices)) != len(value_indices):
            raise ParameterError("a value column is named twice")
    if not value_indices:
        raise CSVError(
            path,
            "the file has no value column besides the identifier (use it as the left file "
            "to compute the intersection size only)",
        )
    first_line: dict[str, int] = {}
    order: list[str] = []
    sums: dict[str, list[Decimal]] = {}
    decimals = [0] * len(value_indices)
    count = 0
    for line, raw in rows:
        fields = _fields(path, line, raw, len(names))
        identifier = _identifier(path, line, fields[id_index], names[id_index])
        numbers = [_number(path, line, fields[i], names[i]) for i in value_indices]
        for c, (i, value) in enumerate(zip(value_indices, numbers, strict=True)):
            exponent = value.as_tuple().exponent
            places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
            if places > MAX_DECIMALS:
                raise CSVError(
                    path,
                    f"{fields[i]!r} has {places} decimal places; at most {MAX_DECIMALS} are "
                    "supported",
                    line=line,
                    column=names[i],
                )
            decimals[c] = max(decimals[c], places)
        count += 1
        if identifier in first_line:
            if duplicates == "error":
                raise CSVError(
                    path,
                    f"identifier {identifier!r} already appeared on line {first_line[identifier]}; "
                    "remove the repeat, or aggregate with --duplicates sum",
                    line=line,
                    column=names[id_index],
                )
            sums[identifier] = [
                _CONTEXT.add(a, b) for a, b in zip(sums[identifier], numbers, strict=True)
            ]
            continue
        first_line[identifier] = line
        order.append(identifier)
        sums[identifier] = numbers
    scales = [Decimal(10) ** d for d in decimals]
    values = [
        tuple(int(_CONTEXT.multiply(v, s)) for v, s in zip(sums[i], scales, strict=True))
        for i in order
    ]
    return ValueTable(
        order,
        values,
        names[id_index],
        tuple(names[i] for i in value_indices),
        tuple(decimals),
        count,
        count - len(order),
    )
