"""Shared parts have one home: no built-in plugin imports another plugin (only jepa_core and jepa_vit)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS_DIR = Path(__file__).resolve().parents[3] / "plugins"
PLUGINS = ("jepa_image", "jepa_video", "jepa_audio")
SHARED = ("jepa_core", "jepa_vit")
PROJECT = (*PLUGINS, *SHARED)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``path`` (relative imports resolved)."""
    package = path.parent.name
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside the file's own package (plugins are flat packages)
                found.append((node.lineno, package if node.level == 1 else ".." * node.level))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def allowed(module: str, package: str) -> bool:
    top = module.split(".")[0]
    if top in (*SHARED, package):
        return True
    if top in PROJECT or top.startswith("jepa_") or not top:
        return False  # another plugin, or a relative import climbing out of the package
    return True  # standard library or third-party


@pytest.mark.parametrize("package", PLUGINS)
def test_plugins_import_only_the_core_the_shared_library_and_themselves(package: str) -> None:
    files = sorted((PLUGINS_DIR / package).glob("**/*.py"))
    assert files, f"no sources found under {PLUGINS_DIR / package}"
    bad = [
        f"{path.relative_to(PLUGINS_DIR)}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(path)
        if not allowed(module, package)
    ]
    assert not bad, "a plugin imports another plugin:\n" + "\n".join(bad)


def test_the_shared_library_imports_no_plugin() -> None:
    bad = [
        f"{path.relative_to(PLUGINS_DIR)}:{line} imports {module}"
        for path in sorted((PLUGINS_DIR / "jepa_vit").glob("**/*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in PLUGINS
    ]
    assert not bad, "jepa_vit imports a plugin:\n" + "\n".join(bad)


def test_the_rule_sees_a_cross_plugin_import(tmp_path: Path) -> None:
    source = tmp_path / "jepa_audio" / "bad.py"
    source.parent.mkdir()
    source.write_text(
        "import os\nfrom jepa_image.vit import ViTConfig\nfrom . import masks\nfrom jepa_vit import vit\n"
    )
    verdicts = [(module, allowed(module, "jepa_audio")) for _, module in imported_modules(source)]
    assert verdicts == [("os", True), ("jepa_image.vit", False), ("jepa_audio", True), ("jepa_vit", True)]
