"""Our ``validators`` package must win over the unrelated PyPI package of the same name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import validators

REPO = Path(__file__).resolve().parents[2]


def foreign_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "validators").mkdir(parents=True)
    (site / "validators" / "__init__.py").write_text("raise ImportError('foreign validators imported')\n")
    return site


def test_tests_import_ours():
    assert validators.SENTINEL
    assert Path(validators.__file__).resolve().parent == REPO / "validators"


def test_entry_script_imports_ours_despite_a_foreign_package_first_on_pythonpath(tmp_path):
    # Run the entry script outside Orthanc: it must get past `import validators` (ours) and stop
    # only at `import orthanc`, which exists only inside Orthanc.
    result = subprocess.run([sys.executable, str(REPO / "sentinel.py")], capture_output=True, text=True,
                            cwd=tmp_path, env={"PYTHONPATH": str(foreign_site(tmp_path))})
    assert "foreign validators imported" not in result.stderr
    assert "No module named 'orthanc'" in result.stderr


def test_command_line_module_imports_ours(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import validators; print(validators.__file__)"],
                            capture_output=True, text=True, cwd=REPO,
                            env={"PYTHONPATH": str(foreign_site(tmp_path))})
    # With -c the current folder goes first on sys.path, before PYTHONPATH.
    assert result.stdout.strip() == str(REPO / "validators" / "__init__.py"), result.stderr
