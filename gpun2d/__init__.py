"""gpun2d: N2D ("(Not Too) Deep Clustering") on the GPU, and correct everywhere.

``C = F_cluster(F_manifold(F_autoencoder(X)))``: an MLP autoencoder, UMAP on its
embedding, then a Gaussian mixture (McConville et al., 2019).
"""

import os
import sys

# scikit-learn's Gaussian mixture runs on torch/CuPy arrays only when SciPy was
# imported with its array-API support on, so switch it on before SciPy loads.
# If SciPy is already loaded without it, gpun2d.mixture says so when it matters.
if "scipy" not in sys.modules:
    os.environ.setdefault("SCIPY_ARRAY_API", "1")

from .estimator import N2D  # noqa: E402

__version__ = "0.1.0"
__all__ = ["N2D", "__version__"]
