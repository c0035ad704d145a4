"""Where SQL lives: every statement the service runs is a whole named block of sql/queries, and a
module's queries are in the file named after it (domain/sms.py: sql/queries/sms.sql)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dnis_service.db.queries import sql_files

PACKAGE = Path(__file__).resolve().parents[2] / "dnis_service"
MODULES = sorted(PACKAGE.rglob("*.py"))


def blocks_by_file() -> dict[str, set[str]]:
    return {f.name.removesuffix(".sql"): set(re.findall(r"(?m)^--\s*name:\s*([a-z0-9_]+)", f.read_text()))
            for f in sql_files("queries")}


BLOCKS = blocks_by_file()
ALL_NAMES = set().union(*BLOCKS.values())


def query_calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == "query"]


def names_in(tree: ast.AST) -> set[str]:
    """The query names a module mentions (as query("x"), or as a name it passes to query later)."""
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ALL_NAMES}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_queries_are_named_blocks_never_glued_together(module: Path) -> None:
    for call in query_calls(ast.parse(module.read_text())):
        argument = call.args[0]
        assert isinstance(argument, ast.Constant | ast.Name), f"line {call.lineno}: query() of a built string"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_runs_only_the_queries_of_its_own_file(module: Path) -> None:
    mentioned = names_in(ast.parse(module.read_text()))
    assert mentioned <= BLOCKS.get(module.stem, set()), f"not in sql/queries/{module.stem}.sql"


def test_every_query_file_belongs_to_a_module_and_every_block_runs() -> None:
    mentioned: set[str] = set()
    for module in MODULES:
        mentioned |= names_in(ast.parse(module.read_text()))
    assert set(BLOCKS) <= {m.stem for m in MODULES}
    assert ALL_NAMES - mentioned == set(), "named blocks that nothing runs"
