"""One source of configuration: every front's defaults are N2D's, which are gpun2d.defaults'."""

from __future__ import annotations

import dataclasses

import click
import pytest

from gpun2d import N2D, defaults, registry
from gpun2d.benchmarking import BenchSettings
from gpun2d.cli import cli
from gpun2d.studies import StudyConfig
from gpun2d.training import TrainOptions

N2D_DEFAULTS = N2D().get_params()
# CLI option names that differ from N2D's parameter names, or are not N2D's (job settings)
JOB_OPTIONS = {"dataset", "input_path", "labels_path", "label_column", "data_dir", "no_download", "out",
               "results_root", "visualize", "quiet", "n_clusters", "memory_pool", "datasets", "seeds", "vary",
               "restarts", "resume_study", "report_only", "repeats", "max_samples", "warmup", "verbose"}


def option_defaults(command: click.Command) -> dict:
    ctx = click.Context(command)
    unset = {"UNSET", "Sentinel.UNSET"}  # click >= 8.3 marks "no default" with a sentinel
    found = {p.name: p.get_default(ctx) for p in command.params if isinstance(p, click.Option) and not p.hidden}
    return {name: None if str(value) in unset else value for name, value in found.items()}


@pytest.mark.parametrize("name", ["run", "study", "bench"])
def test_cli_defaults_are_n2d_defaults(name):
    command = cli.commands[name]
    compared = 0
    for option, default in option_defaults(command).items():
        if option in N2D_DEFAULTS and option not in JOB_OPTIONS and not (name == "study" and option == "resume"):
            expected = N2D_DEFAULTS[option]
            if option == "random_state":
                expected = defaults.SEED  # the CLI seeds every run; the Python API leaves it to the caller
            assert default == expected, f"gpun2d {name} --{option}: {default!r} != N2D's {expected!r}"
            compared += 1
    assert compared >= 5 if name == "run" else compared >= 3


def test_job_configs_default_to_n2d():
    for config in (StudyConfig(datasets=["digits"]), BenchSettings()):
        for field in dataclasses.fields(config):
            if field.name in N2D_DEFAULTS and field.name != "random_state":
                assert getattr(config, field.name) == N2D_DEFAULTS[field.name], (type(config).__name__, field.name)
    assert BenchSettings().random_state == defaults.SEED


def test_trainer_defaults_are_n2d_defaults():
    options = TrainOptions()
    for name in ("epochs", "batch_size", "lr", "compile", "cuda_graphs", "bf16", "checkpoint_every", "resume"):
        assert getattr(options, name) == N2D_DEFAULTS[name], name


def test_paper_settings():
    assert (defaults.EPOCHS, defaults.BATCH_SIZE, defaults.HIDDEN) == (1000, 256, (500, 500, 2000))
    assert (defaults.UMAP_NEIGHBORS, defaults.UMAP_MIN_DIST, defaults.UMAP_METRIC) == (20, 0.0, "euclidean")
    assert N2D_DEFAULTS["cluster"] == "gmm" and N2D_DEFAULTS["umap_dim"] is None


def test_stage_choices_come_from_the_registry():
    run = {p.name: p for p in cli.commands["run"].params}
    for stage in registry.STAGES:
        assert tuple(run[stage.param].type.choices) == registry.names(stage.key)
    vary = {p.name: p for p in cli.commands["study"].params}["vary"]
    assert tuple(vary.type.choices) == tuple(s.short for s in registry.STAGES)


def test_from_config_is_the_one_construction_path():
    model = N2D.from_config({"epochs": 3, "not_a_parameter": 1, "cluster": "kmeans"}, n_clusters=4)
    assert (model.epochs, model.cluster, model.n_clusters) == (3, "kmeans", 4)
    with pytest.raises(Exception, match="no parameter bogus"):
        N2D.from_config({}, bogus=1)
