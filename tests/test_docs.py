"""The README stays a short entry point into the docs site: at most 10,000 characters, its first
two commands set everything up (make demo, make test), and every docs page it links to exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_CHARS = 10_000
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def make_recipe(target: str) -> str:
    """The recipe lines of ``target`` in the Makefile (up to the next blank line)."""
    return (ROOT / "Makefile").read_text(encoding="utf-8").split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]


def local_links(text: str) -> list[str]:
    """Targets of the Markdown links in ``text`` that are files of this repository."""
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_readme_is_short() -> None:
    size = len(README.read_text(encoding="utf-8"))
    assert size <= MAX_CHARS, f"README.md has {size} characters; move detail into docs/ (limit {MAX_CHARS})"


def test_readme_links_point_at_existing_files() -> None:
    links = local_links(README.read_text(encoding="utf-8"))
    assert any(link.startswith("docs/") for link in links), "README.md links to no docs page"
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_readme_linked_docs_pages_are_in_the_site_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = [
        link.removeprefix("docs/")
        for link in local_links(README.read_text(encoding="utf-8"))
        if link.startswith("docs/")
    ]
    absent = [page for page in pages if page not in nav]
    assert not absent, f"docs pages linked from README.md but not in mkdocs.yml's nav: {absent}"


def test_readme_first_two_commands_are_make_demo_and_make_test() -> None:
    commands = [
        line.split("#")[0].strip()
        for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert commands[:2] == ["make demo", "make test"]


def test_the_link_finder_sees_links() -> None:
    text = "see [a](docs/a.md#x), [b](https://example.org) and [c](docs/c.md)"
    assert local_links(text) == ["docs/a.md", "docs/c.md"]


def test_make_docs_builds_strictly() -> None:
    """``--quiet`` would hide mkdocs' warnings from its strict-mode count, so it must not be used."""
    recipe = make_recipe("docs")
    assert "mkdocs build --strict" in recipe and "--quiet" not in recipe and " -q" not in recipe


def test_readme_embedding_example_runs() -> None:
    """The README's Python block runs as written, for two steps of its loop."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1
    code = blocks[0]
    assert "for batch in loader:" in code
    code = "import itertools\n" + code.replace("for batch in loader:", "for batch in itertools.islice(loader, 2):")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["trainer"].step == 2
    assert float(namespace["out"].loss) > 0
