"""The layering of DESIGN.md section 1, checked on the source: a wrong import fails here.

Also enforces two non-negotiables that a linter cannot see everywhere: no ``assert`` used for
validation inside ``heprim/`` and no peer library imported at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "heprim"

# What each part of heprim may import from heprim (besides itself).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "math": {"errors"},
    "ring": {"errors", "math"},
    "paillier": {"errors", "math"},
    "bfv": {"errors", "math", "ring"},
    "secagg": {"errors", "math", "ring", "paillier", "bfv"},
    "pjc": {"errors", "math", "paillier", "secagg"},
    "net": {"errors", "math", "ring", "paillier", "bfv", "secagg", "pjc", "serialize"},
    "serialize": {"errors", "math", "ring", "paillier", "bfv", "secagg", "pjc"},
    "cli": {"errors", "math", "ring", "paillier", "bfv", "secagg", "pjc", "net", "serialize"},
    "__init__": {"errors", "math", "ring", "paillier", "bfv", "secagg", "pjc", "serialize"},
    "__main__": {"cli"},
    "contrib": {"errors", "math", "secagg", "net", "serialize"},
}
PEERS = {"phe", "tenseal", "flwr", "seal"}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _heprim_imports(tree: ast.AST, path: Path) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("heprim."):
                    found.append((alias.name.split(".")[1], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the file's package
                base = list(path.relative_to(PACKAGE).parts[:-1])
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = [*base, *(node.module.split(".") if node.module else [])]
                if target:
                    found.append((target[0], node.lineno))
                else:
                    found.extend((alias.name, node.lineno) for alias in node.names)
            elif node.module == "heprim":
                found.extend((alias.name, node.lineno) for alias in node.names)
            elif node.module and node.module.startswith("heprim."):
                found.append((node.module.split(".")[1], node.lineno))
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layering(path: Path) -> None:
    part = _part(path)
    allowed = ALLOWED.get(part)
    assert allowed is not None, f"{part} is not in DESIGN.md's layer map; add it to ALLOWED"
    tree = ast.parse(path.read_text(), filename=str(path))
    for name, line in _heprim_imports(tree, path):
        target = name.removesuffix(".py")
        if target in (part, "__version__"):
            continue
        assert target in allowed, f"{path.name}:{line}: heprim.{part} must not import {target}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_assert_and_no_module_level_peer_import(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Assert), (
            f"{path.name}:{node.lineno}: validate with heprim.errors, never assert"
        )
    for node in tree.body:  # module level only: peers are imported lazily, inside functions
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in PEERS, (
                f"{path.name}:{node.lineno}: peer library {name} imported at module level"
            )


def test_the_layer_check_catches_a_bad_import(tmp_path: Path) -> None:
    """The checker itself must be able to fail."""
    bad = ast.parse("from heprim.paillier import keys\n")
    fake = PACKAGE / "math" / "fake.py"
    imports = _heprim_imports(bad, fake)
    assert imports == [("paillier", 1)]
    assert "paillier" not in ALLOWED["math"]
