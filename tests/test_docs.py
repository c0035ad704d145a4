"""The docs stand on their own: their relative links resolve, the maintainers' layout names what
is there, and no Markdown file sends readers to a document outside the repository."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINKED_DOCS = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])
LAYOUT = ROOT / "docs" / "maintainers.md"

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1")
_INLINE_LINK = re.compile(r"\]\(([^()\s]+)\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_OUTSIDE = {
    "CONTRACT": re.compile(r"CONTRACT"),
    "../shared": re.compile(r"\.\./shared"),
    "seed 00…": re.compile(r"seed 00", re.IGNORECASE),
    "issue <number>": re.compile(r"\bissues? #?\d+", re.IGNORECASE),
}


def prose(markdown: str) -> str:
    """The text outside fenced code blocks and code spans, where links live."""
    return _CODE_SPAN.sub("", _FENCE.sub("", markdown))


def links(path: Path) -> list[str]:
    text = prose(path.read_text())
    return _INLINE_LINK.findall(text) + _REFERENCE_LINK.findall(text)


def relative_links(path: Path) -> list[str]:
    return [link for link in links(path) if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, punctuation dropped,
    spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a file's headings, repeated ones numbered as GitHub does (-1, -2, …)."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text())):
        base = slug(heading)
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def broken(path: Path, link: str) -> str | None:
    """Why a relative link of `path` does not resolve, or None."""
    target, _, anchor = link.partition("#")
    resolved = (path.parent / target).resolve() if target else path
    if not resolved.exists():
        return f"{shown(path)}: {link}: no {shown(resolved)}"
    if anchor and (resolved.is_dir() or resolved.suffix != ".md" or anchor not in anchors(resolved)):
        return f"{shown(path)}: {link}: no heading #{anchor} in {shown(resolved)}"
    return None


def repository_markdown() -> list[Path]:
    """Every Markdown file of the repository (not virtualenvs, data or build directories)."""
    skipped = ("build", "dist", "node_modules")
    return sorted(
        path for path in ROOT.rglob("*.md")
        if not any(part.startswith(".") or part in skipped or part.endswith(".egg-info")
                   for part in path.relative_to(ROOT).parts[:-1])
    )


@pytest.mark.parametrize("path", LINKED_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(path: Path) -> None:
    problems = [problem for link in relative_links(path) if (problem := broken(path, link))]
    assert problems == []


def test_the_readme_links_into_the_docs() -> None:
    assert any(link.startswith("docs/") for link in relative_links(ROOT / "README.md"))


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Some `code`, and words\n")
    assert broken(page, "#some-code-and-words") is None
    assert broken(page, "page.md#title") is None
    assert broken(page, "#nowhere") is not None
    assert broken(page, "missing.md") is not None


def test_links_inside_code_are_not_links() -> None:
    assert _INLINE_LINK.findall(prose("```\n[a](b.md)\n```\nsee `[c](d.md)` and [e](f.md)")) == ["f.md"]


@pytest.mark.parametrize("path", repository_markdown(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_markdown_file_refers_to_documents_outside_the_repository(path: Path) -> None:
    text = path.read_text()
    assert [name for name, pattern in _OUTSIDE.items() if pattern.search(text)] == []


def layout_entries() -> list[str]:
    """What the maintainers' layout must name: every module, test folder and query file."""
    modules = [p for p in (ROOT / "dnis_service").rglob("*.py") if p.name != "__init__.py"]
    test_folders = [p for p in (ROOT / "tests").iterdir() if p.is_dir() and any(p.glob("*.py"))]
    queries = list((ROOT / "sql" / "queries").glob("*.sql"))
    return sorted(
        [str(p.relative_to(ROOT)) for p in modules + queries]
        + [f"{p.relative_to(ROOT)}/" for p in test_folders]
    )


def test_the_layout_names_every_module_test_folder_and_query_file() -> None:
    text = LAYOUT.read_text()
    assert [entry for entry in layout_entries() if f"`{entry}`" not in text] == []


def test_every_path_the_layout_names_exists() -> None:
    named = re.findall(r"`((?:dnis_service|tests|sql|bench|helm|docs)/[\w./-]*)`", LAYOUT.read_text())
    assert named
    assert [path for path in named if not (ROOT / path).exists()] == []
