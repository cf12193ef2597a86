"""Error and warning lines read right in the library and under every command that can print them."""

from __future__ import annotations

import os
import sys
import warnings

import click
import numpy as np
import pytest
from click.testing import CliRunner

import gpun2d.cli
from gpun2d import outputs
from gpun2d.autoencoder import load_autoencoder
from gpun2d.cli import cli, main
from gpun2d.cli.errors import as_flags
from gpun2d.cli.run import run
from gpun2d.datasets import get_spec, load_file_with_ids
from gpun2d.errors import ConfigError, DataError

TINY = ["--epochs", "1", "--cluster-n-init", "1", "--device", "cpu", "--quiet"]


def error_line(result) -> str:
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


# --- 1. unknown dataset: no option the command lacks ----------------------------------------

@pytest.mark.parametrize("argv", [["study", "-d", "nosuch"], ["run", "-d", "nosuch", *TINY]], ids=["study", "run"])
def test_unknown_dataset_points_at_run_input_under_every_command(tmp_path, argv):
    result = CliRunner().invoke(cli, [*argv, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    line = error_line(result)
    assert "unknown dataset 'nosuch'" in line and "`gpun2d run --input FILE`" in line and "input_path" not in line


def test_unknown_dataset_in_the_library_names_no_cli_parameter():
    with pytest.raises(DataError, match=r"use `gpun2d run --input FILE` \(in Python: gpun2d.datasets.load_file\)"):
        get_spec("nosuch")


# --- 2. labels and label_column together ----------------------------------------------------

def test_labels_and_label_column_read_as_flags_under_run(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_file_with_ids(tmp_path / "x.csv", labels=tmp_path / "l.txt", label_column="c")
    message = str(info.value)
    assert message == "pass either labels=FILE (a separate labels file) or label_column=NAME, not both"
    assert as_flags(message, click.Context(run)) == (
        "pass either --labels FILE (a separate labels file) or --label-column NAME, not both")


# --- 3, 4. unwritable results folders name what the user gave -------------------------------

def test_results_root_under_a_file_names_results_root(tmp_path):
    (tmp_path / "afile.txt").write_text("x")
    root = tmp_path / "afile.txt" / "sub"
    result = CliRunner().invoke(cli, ["run", "-d", "digits", *TINY, "--results-root", str(root)])
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith(f"Error: --results-root {root} cannot be written")
    assert f"{tmp_path / 'afile.txt'} is a file, not a folder" in line and "--out " + str(root) not in line
    result = CliRunner().invoke(cli, ["study", "-d", "digits"], env={"GPUN2D_RESULTS": str(root)})
    assert error_line(result).startswith(f"Error: GPUN2D_RESULTS={root} cannot be written")


def test_read_only_results_root_names_results_root(tmp_path, monkeypatch):
    root = tmp_path / "ro"
    root.mkdir()
    access = os.access
    read_only = {os.fspath(root)}  # as root (who writes anywhere) the tests cannot make one for real
    monkeypatch.setattr(outputs.os, "access",
                        lambda path, mode: access(path, mode) and not (mode & os.W_OK and os.fspath(path) in read_only))
    result = CliRunner().invoke(cli, ["run", "-d", "digits", *TINY, "--results-root", str(root)])
    assert result.exit_code == 1
    assert error_line(result) == (f"Error: --results-root {root} cannot be written ({root} is not writable); "
                                  "choose another --results-root FOLDER, or give --out FOLDER")


def test_out_under_a_file_says_it_is_a_file(tmp_path):
    (tmp_path / "afile.txt").write_text("x")
    out = tmp_path / "afile.txt" / "sub"
    with pytest.raises(ConfigError) as info:
        with outputs.ResultFolder(out, ("results.json",)):
            pass
    assert str(info.value) == (f"out={out} cannot be written ({tmp_path / 'afile.txt'} is a file, not a folder); "
                               "choose another out=FOLDER")
    assert outputs.unwritable(tmp_path / "afile.txt" / "a" / "b") == f"{tmp_path / 'afile.txt'} is a file, not a folder"
    assert outputs.unwritable(tmp_path / "new" / "folder") is None


# --- 5. garbage autoencoder weights ---------------------------------------------------------

@pytest.mark.parametrize("content", [bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)),
                                     b"hello, I am a text file\n"], ids=["random bytes", "text"])
def test_garbage_weights_are_one_line_without_torch_advice(tmp_path, content):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_autoencoder(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not a gpun2d autoencoder file (")
    assert "\n" not in message and "weights_only" not in message


def test_garbage_weights_under_run(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(b"\x80\x02garbage")
    result = CliRunner().invoke(cli, ["run", "-d", "digits", *TINY, "--ae-weights", str(path),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    line = error_line(result)
    assert "is not a gpun2d autoencoder file" in line and "weights_only" not in result.output


# --- 6. warnings on the command line: one line, even with -q --------------------------------

@pytest.fixture
def cli_main(monkeypatch):
    """``main`` without touching this process's signal handlers or, afterwards, its warnings display."""
    monkeypatch.setattr(gpun2d.cli.signal, "signal", lambda *args: None)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)

    def call(argv):
        monkeypatch.setattr(sys, "argv", ["gpun2d", *argv])
        with pytest.raises(SystemExit) as info:
            main()
        return info.value.code

    return call


def test_cli_shows_a_warning_as_one_line(cli_main, capsys, monkeypatch):
    @click.command()
    def noisy():
        warnings.warn("X has only 2 distinct rows\nout of 50", UserWarning, stacklevel=1)
        warnings.warn("old", FutureWarning, stacklevel=1)

    monkeypatch.setattr(gpun2d.cli, "cli", noisy)
    assert cli_main([]) == 0
    assert capsys.readouterr().err == "Warning: X has only 2 distinct rows out of 50\nWarning: old (FutureWarning)\n"


def test_cli_shows_n2d_warning_as_one_line_with_quiet(cli_main, capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(np.float32)
    np.save(tmp_path / "dup.npy", np.concatenate([np.repeat(X[:1], 100, axis=0), X]))
    code = cli_main(["run", "--input", str(tmp_path / "dup.npy"), "-k", "3", *TINY, "--umap-neighbors", "10",
                     "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = [line for line in err.splitlines() if "distinct rows" in line]
    assert len(lines) == 1 and lines[0].startswith("Warning: X has only 40 distinct rows out of 140"), err
    assert "warnings.warn" not in err and "UserWarning" not in err


def test_library_warnings_stay_ordinary_warnings():
    assert warnings.showwarning is not gpun2d.cli.show_warning  # importing the CLI installs nothing
    with pytest.warns(UserWarning, match="plain"):
        warnings.warn("plain", UserWarning, stacklevel=1)


# --- 7. id columns: no missing, no repeated ids; integers stay integers ---------------------

def write_table(path, ids):
    rows = [f"{i},{k}.5,{k * 2}.25" for k, i in enumerate(ids)]
    path.write_text("\n".join(["id,a,b", *rows]) + "\n")
    return path


def test_id_column_with_a_missing_id_is_refused(tmp_path):
    path = write_table(tmp_path / "d.csv", [0, 1, "", 3])
    with pytest.raises(DataError) as info:
        load_file_with_ids(path, id_column="id")
    assert str(info.value) == (f"{path}: id column 'id' has 1 missing id (first at 0-based data row 2); "
                               "give every row an id")


@pytest.mark.parametrize("ids, said", [([5, 6, 7, 6, 5], "2 repeated ids, first 6 at 0-based data rows 1 and 3"),
                                       (["a", "b", "a"], "1 repeated id, first 'a' at 0-based data rows 0 and 2")],
                         ids=["int", "str"])
def test_id_column_with_repeated_ids_is_refused(tmp_path, ids, said):
    path = write_table(tmp_path / "d.csv", ids)
    with pytest.raises(DataError) as info:
        load_file_with_ids(path, id_column="id")
    assert str(info.value) == f"{path}: id column 'id' holds {said}; give every row its own id"


def test_integer_ids_stay_integers(tmp_path):
    path = write_table(tmp_path / "d.csv", ["1.0", "2.0", "30.0"])
    ids = load_file_with_ids(path, id_column="id")[2]
    assert ids.dtype == np.int64 and ids.tolist() == [1, 2, 30]
