import argparse
import json
import os
import subprocess
import sys
from types import SimpleNamespace

from unify.build import BuildReport
from unify.cli import PIPE_CLOSED_STATUS, VERBS, build_parser, main
from unify.core.folder import SkippedSample


def test_datasets_lists_each_builder_on_a_line_starting_with_its_name(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("synthetic_driving\tconfigs=source,coarse,shifted") for line in lines)


def _parsers(parser: argparse.ArgumentParser, path: str = "unify"):
    """Every parser of the command, verbs and their actions included, with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_verb_and_option_explains_itself():
    undocumented = []
    for path, parser in _parsers(build_parser()):
        if path != "unify" and not (parser.description or "").strip():
            undocumented.append(f"{path}: no description")
        for action in parser._actions:
            if action.help != argparse.SUPPRESS and not (action.help or "").strip() and action.dest != "help":
                undocumented.append(f"{path} {'/'.join(action.option_strings) or action.dest}: no help")
    assert undocumented == []
    assert {path.split()[1] for path, _ in _parsers(build_parser()) if path != "unify"} == {
        v.replace("_", "-") for v in VERBS
    }


def test_errors_are_one_clear_line_and_exit_2(tmp_path, capsys):
    assert main(["build", "no_such_dataset", "--output", str(tmp_path / "x")]) == 2
    assert "unknown dataset 'no_such_dataset'" in capsys.readouterr().err


def test_console_script_and_module_entry_points():
    out = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, check=True).stdout
    assert "KEY=VALUE" in out


def test_build_prints_each_skipped_sample(tmp_path, monkeypatch, capsys):
    skipped = SkippedSample("coarse_7", "7.png", "label ids [77] are not in the synthetic_coarse taxonomy")
    report = BuildReport(tmp_path / "out", "synthetic_driving", "coarse", {"train": 5}, [skipped])
    monkeypatch.setattr("unify.build.build_dataset", lambda *args, **kwargs: report)
    assert main(["build", "synthetic_driving", "--output", str(tmp_path / "out"), "--skip-bad"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert json.loads(printed[0])["skipped"] == 1
    assert printed[1:] == ["skipped coarse_7: 7.png: label ids [77] are not in the synthetic_coarse taxonomy"]


def test_a_reader_that_closed_standard_output_ends_the_command_quietly():
    """`unify datasets | head -1`: no BrokenPipeError traceback, the status a process that SIGPIPE ended gets."""
    reader, writer = os.pipe()
    os.close(reader)  # closed before the command writes, so every write meets a closed pipe, whatever the timing
    try:
        done = subprocess.run(
            [sys.executable, "-m", "unify.cli", "taxonomies", "show", "synthetic_fine", "--json"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (PIPE_CLOSED_STATUS, "")


def test_mappings_check_takes_a_native_taxonomy_or_a_builder_with_one(monkeypatch, capsys):
    assert main(["mappings", "check", "synthetic_coarse", "synthetic_fine"]) == 0
    assert capsys.readouterr().out.startswith("synthetic_coarse -> synthetic_fine: 9 native classes")

    assert main(["mappings", "check", "synthetic_driving", "synthetic_fine"]) == 2
    assert (
        capsys.readouterr()
        .err.rstrip("\n")
        .endswith(
            "synthetic_driving is a dataset builder whose configurations use 3 native taxonomies: synthetic_fine "
            "(--config source), synthetic_coarse (--config coarse), synthetic_shifted (--config shifted); name the one "
            "to check, e.g. `unify mappings check synthetic_coarse TAXONOMY`"
        )
    )

    configs = [SimpleNamespace(name=name, native_taxonomy="synthetic_coarse") for name in ("day", "night")]
    monkeypatch.setattr(
        "dataset_scripts.builder_registry", lambda: {"coarse_drives": SimpleNamespace(BUILDER_CONFIGS=configs)}
    )
    assert main(["mappings", "check", "coarse_drives", "synthetic_fine"]) == 0
    assert capsys.readouterr().out.startswith("synthetic_coarse -> synthetic_fine: 9 native classes")

    check = next(parser for path, parser in _parsers(build_parser()) if path == "unify mappings check")
    assert "the builder's name" not in check.format_help() and "native taxonomy" in check.format_help()
