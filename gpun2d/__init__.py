"""gpun2d: N2D ("(Not Too) Deep Clustering") on the GPU, and correct everywhere.

``C = F_cluster(F_manifold(F_autoencoder(X)))``: an MLP autoencoder, UMAP on its
embedding, then a Gaussian mixture (McConville et al., 2019).

``import gpun2d`` loads neither torch nor scikit-learn: :class:`N2D` is imported
on first use (PEP 562), so ``gpun2d --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

# scikit-learn's Gaussian mixture runs on torch/CuPy arrays only when SciPy was
# imported with its array-API support on, so switch it on before SciPy loads.
# This runs before any gpun2d submodule, since importing one imports this first.
# If SciPy is already loaded without it, gpun2d.mixture says so when it matters.
if "scipy" not in sys.modules:
    os.environ.setdefault("SCIPY_ARRAY_API", "1")

if TYPE_CHECKING:  # type checkers and IDEs see N2D; the interpreter imports it in __getattr__
    from .estimator import N2D

from .version import __version__

__all__ = ["N2D", "__version__"]


def __getattr__(name: str):
    """Import ``N2D`` (and with it torch, scikit-learn, UMAP) only when it is first used."""
    if name == "N2D":
        from .estimator import N2D

        globals()["N2D"] = N2D  # later look-ups skip this function
        return N2D
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
