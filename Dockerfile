# syntax=docker/dockerfile:1
# gpun2d on RAPIDS: cuML, cuDF and CuPy come from the official RAPIDS image (conda, CUDA 13,
# Python 3.12); PyTorch's CUDA 13.0 build and gpun2d are added on top.
#
#   docker build -t gpun2d .
#   docker run --rm --gpus all -v "$PWD/results:/results" gpun2d bench -d mnist-test
#   docker run --rm --gpus all -v "$PWD/data:/data" -v "$PWD/results:/results" gpun2d run --dataset fashion
#   docker run --rm --gpus all -v "$PWD/results:/results" gpun2d study --dataset mnist-test --seeds 5
#
# See docker/README.md. RAPIDS image tags are RAPIDS-cudaMAJOR-pyX.Y and there is no `latest`.
ARG RAPIDS_TAG=26.10-cuda13-py3.12
FROM rapidsai/base:${RAPIDS_TAG}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu130

LABEL org.opencontainers.image.title="gpun2d" \
      org.opencontainers.image.description="GPU-native N2D clustering: autoencoder, cuML UMAP, Gaussian mixture" \
      org.opencontainers.image.licenses="MIT"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# The base image's user `rapids` (uid 1001, primary group conda) owns the conda environment in
# /opt/conda; root (uid 0) is needed only to create the two volume folders for it.
USER 0
RUN mkdir -p /data /results && chown rapids:conda /data /results
USER 1001
WORKDIR /home/rapids

# gpun2d's CPU-side libraries from conda-forge, solved together with RAPIDS so none of its
# packages is replaced behind conda's back.
RUN conda install -y -n base \
        "scikit-learn>=1.8" "umap-learn>=0.5.7" "click>=8.1" "rich>=13" "matplotlib-base>=3.8" \
        "pandas>=2.1" "pyarrow>=15" "h5py>=3.10" \
    && conda clean -afy

# PyTorch's CUDA 13.0 wheel (it brings its own CUDA libraries).
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}" \
    && python -c "import torch; assert torch.version.cuda and torch.version.cuda.startswith('13'), torch.version.cuda"

# gpun2d itself; its dependencies are all in place, so pip adds nothing else.
COPY --chown=rapids:conda pyproject.toml README.md /home/rapids/gpun2d-src/
COPY --chown=rapids:conda gpun2d /home/rapids/gpun2d-src/gpun2d
RUN pip install --no-cache-dir /home/rapids/gpun2d-src \
    && rm -rf /home/rapids/gpun2d-src \
    && gpun2d --version

COPY --chown=rapids:conda --chmod=755 docker/entrypoint.sh /home/rapids/gpun2d-entrypoint.sh

# The image's defaults, read by gpun2d itself (so every subcommand has them, and `docker run -e`
# overrides them): datasets are found in (and downloaded to) /data; every command's default
# output folder goes under /results; every command's default --device is cuda, so a container
# without a usable GPU stops with gpun2d's one-line reason instead of falling back to hours on
# the CPU (`--device cpu`, or `-e GPUN2D_DEVICE=auto` for the fallback).
ENV GPUN2D_DATA=/data \
    GPUN2D_CACHE=/data \
    GPUN2D_RESULTS=/results \
    GPUN2D_DEVICE=cuda \
    MPLBACKEND=Agg \
    PYTHONUNBUFFERED=1
VOLUME ["/data", "/results"]

# The base image's entrypoint prints its license notice and honours EXTRA_CONDA_PACKAGES /
# EXTRA_PIP_PACKAGES, then hands over to ours: `docker run IMAGE COMMAND ...` runs
# `gpun2d COMMAND ...` for any subcommand, while a program on PATH (bash, python) runs as given.
ENTRYPOINT ["/home/rapids/entrypoint.sh", "/home/rapids/gpun2d-entrypoint.sh"]
CMD ["--help"]
