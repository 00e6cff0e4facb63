"""The package layout of docs/ARCHITECTURE.md holds: import contracts, packages, cache keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "extractors", "warehouse")


def test_import_contracts_hold() -> None:
    """`lint-imports` keeps every contract of pyproject.toml (layers, forbidden, no circles)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"{lint_imports} missing: install the dev extras (make)"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, (
        "an import breaks the layering of docs/ARCHITECTURE.md; move the code to the layer it "
        f"belongs to (or the import to a lower one):\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
    )
    assert "0 broken" in done.stdout


def test_every_code_folder_is_a_package() -> None:
    """A folder of modules without __init__.py is left out of a non-editable `pip install .`."""
    missing = [
        str(folder.relative_to(REPO))
        for top in PACKAGES
        for folder in [REPO / top, *(REPO / top).rglob("*")]
        if folder.is_dir()
        and "__pycache__" not in folder.parts
        and any(folder.glob("*.py"))
        and not (folder / "__init__.py").exists()
    ]
    assert not missing, f"add an __init__.py (with a one-line docstring) to: {missing}"


def test_judges_named_in_the_analysis_cache_key_exist() -> None:
    """The seed-analysis cache is keyed by the judges' source files: a wrong path would hash as
    empty and let a stale cache survive a code change."""
    from extractors.classify.analysis import JUDGES

    missing = [name for name in JUDGES if not (REPO / "extractors" / f"{name}.py").is_file()]
    assert not missing, f"extractors/classify/analysis.py JUDGES names missing files: {missing}"
