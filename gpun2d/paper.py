"""The published N2D figures (McConville et al., 2019) that gpun2d's reports compare against.

``SCORES``: Table 2's ACC / NMI per dataset (single runs). ``MINUTES``: Table III's
training times on an NVIDIA GeForce RTX 2080 Ti (autoencoder, manifold learner).
"""

GPU = "NVIDIA GeForce RTX 2080 Ti"

SCORES = {
    "mnist": {"acc": 0.979, "nmi": 0.942},
    "mnist-test": {"acc": 0.948, "nmi": 0.882},
    "usps": {"acc": 0.958, "nmi": 0.901},
    "fashion": {"acc": 0.672, "nmi": 0.684},
    "pendigits": {"acc": 0.885, "nmi": 0.863},
    "har": {"acc": 0.801, "nmi": 0.683},
}

MINUTES = {
    "mnist": {"autoencoder_min": 18.0, "manifold_min": 1.5},
    "mnist-test": {"autoencoder_min": 2.6, "manifold_min": 0.4},
    "usps": {"autoencoder_min": 2.1, "manifold_min": 0.4},
    "fashion": {"autoencoder_min": 18.0, "manifold_min": 1.5},
    "pendigits": {"autoencoder_min": 2.2, "manifold_min": 0.3},
    "har": {"autoencoder_min": 3.6, "manifold_min": 0.2},
}
