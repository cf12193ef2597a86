"""What a study runs: its settings, the list of runs, and where each one's file lives."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import defaults, paper, registry
from ..errors import ConfigError
from ..kmeans import MAX_SEED

MODEL_PARAMS = ("embedder", "epochs", "batch_size", "cluster", "cluster_n_init", "finetune_epochs", "device")
"""StudyConfig fields that are N2D parameters; ``resume`` and the rest belong to the study."""
VARY = tuple(stage.short for stage in registry.STAGES)  # ae, manifold, cluster
DEFAULT_RESTARTS = (1, 10, 30, 100)
MAX_SEEDS = 1000
"""Most seeds in one study (each is a full run; a count beyond this is a typing slip)."""

# ACC / NMI reported by McConville et al. (2019), Table 2; digits has no paper figure.
PAPER = paper.SCORES


def parse_seeds(text: str) -> list[int]:
    """``"5"`` -> seeds 0..4; ``"0,3,7"`` -> exactly those (``"7,"`` is seed 7 alone)."""
    text = str(text).strip()
    try:
        if "," not in text:
            count = int(text)
        else:
            seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"seeds={text!r}: give a count (5) or a comma list of integers (0,3,7)") from None
    if "," not in text:
        if not 1 <= count <= MAX_SEEDS:
            raise ConfigError(f"seeds={text}: give a count from 1 to {MAX_SEEDS}, or a comma list such as 0,3,7")
        return list(range(count))
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"seeds={text!r}: seeds are integers >= 0")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={text!r} repeats a seed")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"seeds={text!r}: a study runs at most {MAX_SEEDS} seeds")
    return seeds


def parse_restarts(text: str) -> list[int]:
    """``"1,10,30,100"`` -> restart counts, each >= 1, in the given order, duplicates dropped."""
    try:
        counts = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"restarts={text!r}: give a comma list of integers such as 1,10,30") from None
    if not counts or min(counts) < 1:
        raise ConfigError(f"restarts={text!r}: restart counts are integers >= 1")
    return list(dict.fromkeys(counts))


@dataclass
class StudyConfig:
    """Everything ``gpun2d study`` was asked to do.

    ``vary`` picks what changes between seeds: ``ae`` the whole pipeline,
    ``manifold`` UMAP and the mixture on one autoencoder (trained with the
    first seed), ``cluster`` only the mixture on one embedding (first seed),
    once for every restart count in ``restarts``.
    """

    datasets: list[str]
    seeds: list[int] = field(default_factory=lambda: list(range(5)))
    vary: str = "ae"
    restarts: list[int] | None = None
    embedder: str = defaults.EMBEDDER
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    cluster: str = defaults.CLUSTER
    cluster_n_init: int = defaults.CLUSTER_N_INIT
    finetune_epochs: int = defaults.FINETUNE_EPOCHS
    device: str = defaults.DEVICE
    data_dir: Path | None = None
    no_download: bool = False
    out: Path = Path("gpun2d-studies")
    resume: bool = False
    report_only: bool = False
    quiet: bool = False
    ensemble: bool = False
    batched: bool = False

    def validate(self) -> StudyConfig:
        if not self.datasets:
            raise ConfigError("give at least one dataset (datasets=[NAME])")
        twice = sorted({name for name in self.datasets if self.datasets.count(name) > 1})
        if twice:
            raise ConfigError(f"dataset={twice[0]} is named twice")
        if self.vary not in VARY:
            raise ConfigError(f"vary must be one of {', '.join(VARY)}, got {self.vary!r}")
        if not self.seeds:
            raise ConfigError("give at least one seed (seeds=5 or seeds=0,3,7)")
        if self.vary == "cluster":
            self.restarts = list(self.restarts or DEFAULT_RESTARTS)
        elif self.restarts:
            raise ConfigError("restarts go with vary=cluster; cluster_n_init sets the other studies' restarts")
        self._check_seed_range()
        if self.batched and self.embedder != defaults.EMBEDDER:
            raise ConfigError("batched=True trains the MLP autoencoder; drop it for embedder="
                              f"{self.embedder!r}")
        if self.batched and self.vary != "ae":
            raise ConfigError("batched=True trains the seeds' autoencoders together, so it goes with vary='ae' "
                              "(the other studies train one autoencoder)")
        return self

    def _check_seed_range(self) -> None:
        """Every run's seeds fit the clustering's (``seed + restarts - 1 <= 2**32 - 1``), checked before any work."""
        worst = max(plan_runs(self), key=lambda spec: spec.mixture_seed + spec.n_init)
        top = worst.mixture_seed + worst.n_init - 1
        if top > MAX_SEED:
            how = f" (vary=cluster starts seed {worst.seed}'s restarts at {worst.seed} x {worst.n_init})" \
                if worst.per_restart else ""
            raise ConfigError(f"seed {worst.seed} with {worst.n_init} restarts would seed the clustering up to "
                              f"{top}{how}, past the largest seed {MAX_SEED}; choose smaller seeds")

    @property
    def shared_seed(self) -> int:
        """Seed of the autoencoder (and embedding) that --vary manifold/cluster keep fixed."""
        return self.seeds[0]

    def model_params(self) -> dict:
        """The N2D parameters every run of the study shares (the job's own settings stay out)."""
        return {name: getattr(self, name) for name in MODEL_PARAMS}

    def fingerprint(self) -> dict:
        """Settings a run's result depends on; a resumed study must match them."""
        keys = ("epochs", "batch_size", "cluster") + (("cluster_n_init",) if self.vary != "cluster" else ())
        # options added later count only when used, so runs from before them stay valid
        keys += ("batched",) if self.batched else ()
        keys += ("embedder",) if self.embedder != defaults.EMBEDDER else ()
        keys += ("finetune_epochs",) if self.finetune_epochs else ()
        return {key: getattr(self, key) for key in keys}

    def as_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: a dataset, a seed and (``--vary cluster``) a restart count."""

    dataset: str
    vary: str
    seed: int
    n_init: int
    per_restart: bool = False  # --vary cluster: the restart count is part of the run's name

    @property
    def name(self) -> str:
        tail = f"-restarts{self.n_init}" if self.per_restart else ""
        return f"{self.dataset}-{self.vary}-seed{self.seed}{tail}"

    @property
    def mixture_seed(self) -> int:
        """The clustering's ``random_state``; its restarts use this seed + 0..n_init-1.

        Under --vary cluster seed ``s`` with ``r`` restarts starts at ``s * r``,
        so two seeds never share a restart and their spread is honest.
        """
        return self.seed * self.n_init if self.per_restart else self.seed

    def path(self, out: Path) -> Path:
        return Path(out) / "runs" / f"{self.name}.json"


def plan_runs(config: StudyConfig) -> list[RunSpec]:
    """Every run of the study, in the order they execute (dataset, restarts, seed)."""
    runs = []
    for dataset in config.datasets:
        if config.vary == "cluster":
            runs += [RunSpec(dataset, "cluster", seed, r, True) for r in config.restarts for seed in config.seeds]
        else:
            runs += [RunSpec(dataset, config.vary, seed, config.cluster_n_init) for seed in config.seeds]
    return runs
