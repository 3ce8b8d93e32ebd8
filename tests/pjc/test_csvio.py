"""CSV input: what is accepted, and every refusal naming the file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from heprim.errors import ParameterError
from heprim.pjc.csvio import CSVError, read_identifiers, read_values


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_identifiers_strip_collapse_and_skip_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffemail,name\n ann@x , Ann\n\nbob@x,Bob\nann@x,Ann again\n   \n")
    table = read_identifiers(path)
    assert table.identifiers == ["ann@x", "bob@x"]
    assert (table.column, table.rows, table.duplicates) == ("email", 3, 1)
    assert read_identifiers(path, column="name").identifiers == ["Ann", "Bob", "Ann again"]


def test_identifiers_with_quotes_and_other_delimiters(tmp_path: Path) -> None:
    path = write(tmp_path, 'id;note\n"a;b";"multi\nline"\nc;d\n')
    table = read_identifiers(path, delimiter=";")
    assert table.identifiers == ["a;b", "c"]


def test_values_are_scaled_per_column_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path, "id,spend,visits,ratio\nann,12.50,3,1e-3\nbob,-0.25,+4,2E2\ncy,.5,0,0.0\n"
    )
    table = read_values(path)
    assert table.value_columns == ("spend", "visits", "ratio")
    assert table.decimals == (2, 0, 3)
    assert table.values == [(1250, 3, 1), (-25, 4, 200000), (50, 0, 0)]
    only = read_values(path, id_column="id", value_columns=["visits"])
    assert only.values == [(3,), (4,), (0,)] and only.decimals == (0,)


def test_value_duplicates_error_or_sum(tmp_path: Path) -> None:
    path = write(tmp_path, "id,v\na,1.5\nb,2\na,3.25\n")
    with pytest.raises(
        CSVError, match=r"line 4, column 'id': identifier 'a' already appeared on line 2"
    ) as info:
        read_values(path)
    assert (info.value.line, info.value.column) == (4, "id")
    table = read_values(path, duplicates="sum")
    assert table.identifiers == ["a", "b"] and table.values == [(475,), (200,)]
    assert (table.rows, table.duplicates) == (3, 1)


@pytest.mark.parametrize(
    ("text", "options", "match"),
    [
        ("", {}, "empty; expected a header"),
        ("id,,v\na,b,1\n", {}, "header field 2 is empty"),
        ("id,v,v\na,1,2\n", {}, "column 'v' twice"),
        (
            "id,v\na,1\n",
            {"id_column": "email"},
            "no identifier column 'email'; the header has 'id', 'v'",
        ),
        ("id,v\na,1\n", {"value_columns": ["amount"]}, "no value column 'amount'"),
        ("id,v\na,1\n", {"value_columns": ["id"]}, "is the identifier column"),
        ("id\na\n", {}, "no value column besides the identifier"),
        ("id,v\na,1\nb\n", {}, r"line 3: expected 2 fields like the header, got 1"),
        ("id,v\na,1,9\n", {}, "line 2: expected 2 fields"),
        ("id,v\n,1\n", {}, r"line 2, column 'id': the identifier is empty"),
        ("id,v\na,\n", {}, r"line 2, column 'v': the value is missing"),
        ("id,v\na,abc\n", {}, r"line 2, column 'v': 'abc' is not a number"),
        ("id,v\na,1,000\n", {}, "expected 2 fields"),
        ("id,v\na,1_000\n", {}, "is not a number"),
        ("id,v\na,NaN\n", {}, "is not a number"),
        ("id,v\na,inf\n", {}, "is not a number"),
        ("id,v\na,0x10\n", {}, "is not a number"),
        ("id,v\na,1e400\n", {}, "too large"),
        ("id,v\na,0.0000000000000000001\n", {}, "19 decimal places"),
        ('id,v\n"a,1\n', {}, "malformed CSV|expected 2 fields"),
    ],
)
def test_bad_value_files_are_refused_with_their_location(
    tmp_path: Path, text: str, options: dict, match: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CSVError, match=match) as info:
        read_values(path, **options)
    assert str(info.value).startswith(str(path))


def test_bad_identifier_files(tmp_path: Path) -> None:
    with pytest.raises(CSVError, match="cannot open"):
        read_identifiers(tmp_path / "missing.csv")
    with pytest.raises(CSVError, match="not UTF-8"):
        read_identifiers(write(tmp_path, b"id\n\xff\xfe\n"))
    with pytest.raises(CSVError, match="line 3: expected 1 fields"):
        read_identifiers(write(tmp_path, "id\na\nb,c\n"))
    with pytest.raises(CSVError, match="no identifier column 'x'"):
        read_identifiers(write(tmp_path, "id\na\n"), column="x")
    assert read_identifiers(write(tmp_path, "id\n")).identifiers == []


def test_bad_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, "id,v\na,1\n")
    with pytest.raises(ParameterError, match="one character"):
        read_identifiers(path, delimiter=";;")
    with pytest.raises(ParameterError, match="duplicates"):
        read_values(path, duplicates="first")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="at least one value column"):
        read_values(path, value_columns=[])
    with pytest.raises(ParameterError, match="named twice"):
        read_values(write(tmp_path, "id,v,w\na,1,2\n"), value_columns=["v", "v"])
