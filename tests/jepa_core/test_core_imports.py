"""The dependency runs one way, plugins -> core: no module of jepa_core imports a plugin or the
plugins' shared library (it finds plugins through the jepa.plugins entry-point group only)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE_DIR = Path(__file__).resolve().parents[2] / "jepa_core"
FORBIDDEN = ("jepa_image", "jepa_video", "jepa_audio", "jepa_vit")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in ``path``, including imports inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.lineno, node.module or ""))
    return found


def forbidden_imports(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root.parent)}:{line} imports {module}"
        for path in sorted(root.glob("**/*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN
    ]


def test_the_core_imports_no_plugin() -> None:
    assert sorted(CORE_DIR.glob("**/*.py")), f"no sources found under {CORE_DIR}"
    bad = forbidden_imports(CORE_DIR)
    assert not bad, "jepa_core imports a plugin:\n" + "\n".join(bad)


def test_the_rule_sees_a_plugin_import(tmp_path: Path) -> None:
    core = tmp_path / "jepa_core"
    core.mkdir()
    (core / "bad.py").write_text("import os\n\ndef f():\n    from jepa_vit.vit import VisionTransformer\n")
    assert forbidden_imports(core) == ["jepa_core/bad.py:4 imports jepa_vit.vit"]
