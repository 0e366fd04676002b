"""python -m validators: the same rules as the plugin, exit codes, output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from realfiles import fresh_copy, pydicom_file, with_preamble
from validators.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "good.dcm").write_bytes(pydicom_file("CT_small.dcm").read_bytes())
    (tmp_path / "polyglot.dcm").write_bytes(with_preamble(fresh_copy("MR_small.dcm"), b"MZ"))
    return tmp_path


def test_json_lines_and_exit_code_1_when_a_file_fails(folder, capsys):
    assert main(["--format", "json", "--jobs", "1", "--no-progress", str(folder)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {Path(line["path"]).name: line for line in lines}
    assert by_name["good.dcm"]["verdict"] == "pass"
    assert by_name["polyglot.dcm"]["verdict"] == "reject"
    assert by_name["polyglot.dcm"]["findings"][0]["rule"] == "ingest.preamble-executable"


def test_exit_code_0_for_clean_files_and_text_output(folder, capsys):
    assert main(["--jobs", "1", "--no-progress", str(folder / "series")]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("good.dcm: pass")


def test_rules_file_changes_the_outcome(folder, tmp_path, capsys):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"ingest.preamble-executable": {"Severity": "info", "Action": "report"}}))
    assert main(["--jobs", "1", "--no-progress", "--rules", str(rules), str(folder / "polyglot.dcm")]) == 0


@pytest.mark.parametrize("argv", [["/no/such/path"], ["--jobs", "0", "."], ["--rules", "/no/such.json", "."]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_module_entry_point_in_parallel(folder, tmp_path_factory):
    """`python -m validators` from the repository, with a foreign `validators` first on PYTHONPATH."""
    site = tmp_path_factory.mktemp("site")
    (site / "validators").mkdir()
    (site / "validators" / "__init__.py").write_text("raise ImportError('foreign validators imported')\n")
    result = subprocess.run([sys.executable, "-m", "validators", "--jobs", "2", "--format", "json", str(folder)],
                            capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(site)})
    assert result.returncode == 1, result.stderr
    assert len(result.stdout.splitlines()) == 2
