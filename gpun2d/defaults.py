"""Every default of gpun2d, in one place: the estimator, the CLI, the study and the bench read them here.

Importing this module loads nothing else, so the CLI can show its help
without importing torch. The paper's settings are marked "paper".
"""

EPOCHS = 1000
"""Autoencoder training epochs (paper)."""

BATCH_SIZE = 256
"""Autoencoder mini-batch size (paper)."""

LR = 1e-3
"""Adam learning rate (Keras' default, which the paper used)."""

HIDDEN = (500, 500, 2000)
"""Encoder widths before the bottleneck; the decoder mirrors them (paper)."""

EMBEDDER = "mlp"
"""Embedding learner (stage ``autoencoder``): the paper's MLP autoencoder."""

MANIFOLD = "umap"
"""Manifold learner (paper: UMAP)."""

CONV_CHANNELS = (32, 64, 128)
"""``embedder='conv'``: channels of its three stride-2 convolutions (kernels 5, 5, 3)."""

CONV_DECODER_HIDDEN = (500,)
"""``embedder='conv'``: hidden widths of its lighter MLP decoder."""

CONV_NOISE = 0.2
"""``embedder='conv'``: standard deviation of the Gaussian noise on its training input (pixels in [0, 1])."""

UMAP_NEIGHBORS = 20
"""UMAP neighbourhood size (paper)."""

UMAP_MIN_DIST = 0.0
"""UMAP minimum distance (paper)."""

UMAP_METRIC = "euclidean"
"""UMAP metric (paper)."""

UMAP_INIT = "spectral"
"""UMAP's starting layout (umap-learn's and cuML's default)."""

UMAP_KNN = "umap"
"""Source of UMAP's k-NN graph: UMAP's own."""

FINETUNE_EPOCHS = 0
"""Epochs of the IDEC cluster-hardening fine-tune after the first clustering (0: off, the paper's pipeline)."""

CLUSTER = "gmm"
"""Clusterer (paper: a full-covariance Gaussian mixture)."""

CLUSTER_N_INIT = 30
"""Clustering restarts, each from its own k-means seed; the highest likelihood wins.

The paper fits one mixture (``1``). On one fixed Fashion-MNIST embedding,
10 restarts reached the best optimum in 2 of 5 draws and 30 in 4 of 5, at
about 140 s of CPU time on 70,000 points, small beside the autoencoder's
training (README, Results).
"""

DEVICE = "auto"
"""``auto``: the GPU when torch sees CUDA and cuML imports, else the CPU."""

MEMORY_POOL = "torch"
"""GPU memory: torch keeps its caching allocator and CuPy/cuML share an RMM pool (``rmm``: torch joins that pool)."""

SEED = 0
"""Seed of every stage for the command line (the Python API defaults to ``None``)."""

SEEDS = 5
"""Seeds of a study."""

RESULTS_ENV = "GPUN2D_RESULTS"
"""Environment variable naming the folder that holds every default result folder."""

DEVICE_ENV = "GPUN2D_DEVICE"
"""Environment variable giving the default ``--device`` of every command (the image sets ``cuda``)."""

RESULTS_ROOT = "gpun2d-results"
"""Folder of results when neither ``--out`` nor ``$GPUN2D_RESULTS`` (``--results-root``) is given."""


FIT_SAMPLE_MAX = 100_000
"""Most rows a scaled run (``scheduler=``) fits on when ``fit_sample`` is not given.

Above every dataset of the paper (MNIST: 70,000), so up to that size the fit
sees all the rows the paper's did; below it, free memory may lower the size
(:func:`gpun2d.scale.sample.default_fit_sample`). The fitted model then labels
every row on the workers.
"""
