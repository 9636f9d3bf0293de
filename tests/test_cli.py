import subprocess
import sys

import pytest

from unify.cli import VERBS, build_parser, main


def test_datasets_lists_each_builder_on_a_line_starting_with_its_name(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("synthetic_driving\tconfigs=source,coarse,shifted") for line in lines)


@pytest.mark.parametrize("verb", [v.replace("_", "-") for v in VERBS])
def test_every_verb_explains_itself(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([verb, "--help"])
    assert exit_info.value.code == 0
    assert len(capsys.readouterr().out) > 200


def test_errors_are_one_clear_line_and_exit_2(tmp_path, capsys):
    assert main(["build", "no_such_dataset", "--output", str(tmp_path / "x")]) == 2
    assert "unknown dataset 'no_such_dataset'" in capsys.readouterr().err


def test_console_script_and_module_entry_points():
    out = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, check=True).stdout
    assert "KEY=VALUE" in out
