"""Gaussian mixture (full covariances) on the device's own arrays.

cuML has no Gaussian mixture, but scikit-learn's runs on torch tensors (CPU
or CUDA) and CuPy arrays through the Array API. Each restart is a k-means fit
with its own seed (cuML on CUDA, scikit-learn on the CPU) whose clusters give
the mixture's initial weights, means and precisions -- exactly scikit-learn's
``init_params='kmeans'`` -- followed by EM on the device. The restart with the
highest log-likelihood lower bound wins.

On CUDA tensors (or with ``batched=True``) the restarts run together instead:
torch k-means (:mod:`gpun2d.batched_kmeans`) then EM (:mod:`gpun2d.batched_em`)
for all of them at once, so the device is not stalled by one small fit after another.
"""

from __future__ import annotations

import logging
import sys
from numbers import Integral, Real

import sklearn
import torch
from sklearn.mixture import GaussianMixture as _SKGaussianMixture

from . import defaults
from .batched_em import batched_em, hard_parameters
from .batched_kmeans import batched_kmeans
from .devices import Device, DeviceType, cuml_import_error, resolve_device
from .errors import ConfigError, DeviceError
from .handoff import to_torch
from .kmeans import RestartClusterer, as_caller, fit_kmeans_once, restart_seeds

log = logging.getLogger(__name__)


def scipy_array_api_enabled() -> bool:
    """True when SciPy was imported with ``SCIPY_ARRAY_API=1``."""
    if "scipy" not in sys.modules:
        return False
    from scipy._lib import _array_api

    return bool(getattr(_array_api, "SCIPY_ARRAY_API", False))


SCIPY_HINT = (
    "SciPy was imported before gpun2d without SCIPY_ARRAY_API=1, so scikit-learn cannot run the "
    "Gaussian mixture on CUDA arrays; set SCIPY_ARRAY_API=1 in the environment, or import gpun2d "
    "before scipy/sklearn"
)


def kmeans_parameters(X: torch.Tensor, labels: torch.Tensor, n_components: int, reg_covar: float):
    """Weights, means and precisions of the Gaussians fitted to hard k-means clusters."""
    resp = torch.nn.functional.one_hot(labels, n_components).to(X.dtype)
    counts = resp.sum(0) + 10 * torch.finfo(X.dtype).eps  # as scikit-learn: empty clusters stay finite
    means = (resp.T @ X) / counts[:, None]
    diff = X[None, :, :] - means[:, None, :]  # (k, n, d)
    covariances = torch.einsum("kn,knd,kne->kde", resp.T, diff, diff) / counts[:, None, None]
    covariances += reg_covar * torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    precisions = torch.linalg.inv(covariances)
    precisions = (precisions + precisions.transpose(1, 2)) / 2  # exact symmetry for Cholesky
    return counts / counts.sum(), means, precisions  # sums to 1 exactly, as scikit-learn checks


def kmeans_device(X: torch.Tensor) -> Device:
    """Where the k-means of each restart runs: beside ``X`` when cuML can run it there.

    CUDA tensors without cuML (torch-only GPU machines) get their k-means on a
    host copy; only the k-means initialisation takes that detour.
    """
    if X.is_cuda:
        if cuml_import_error() is None:
            return Device(DeviceType.CUDA, X.device.index or 0)
        log.warning("cuML is not importable: the k-means initialisation runs on a host copy")
    return Device(DeviceType.CPU)


class GaussianMixture(RestartClusterer):
    """Full-covariance Gaussian mixture with k-means-initialised restarts.

    Takes any array (NumPy, torch on any device, CuPy) and returns results in
    the caller's array type on the caller's device.

    Parameters
    ----------
    n_components : int
        Number of Gaussians (clusters).
    n_init : int
        Restarts, each from its own k-means seed; the highest lower bound on
        the log-likelihood wins. ``1`` is the N2D paper's single init.
    max_iter, tol, reg_covar :
        EM settings as in scikit-learn (``reg_covar`` is added to every
        covariance diagonal).
    random_state : int, RandomState or None
        Seed of the first restart; restart ``i`` uses ``random_state + i``.
    device : str or Device
        Where EM runs: ``cpu``, ``cuda`` or ``auto``; ``None`` keeps the
        input's own device.
    array_api : bool or None
        Run scikit-learn through the Array API on the torch tensors themselves.
        ``None`` (default): on CUDA tensors yes; on CPU tensors use zero-copy
        NumPy views instead (the same scikit-learn code, 2-4x faster there).
        ``True`` forces the tensor path on the CPU too (how its GPU
        behaviour is tested without a GPU).
    batched : bool or None
        Run all restarts at once in torch on EM's device (torch k-means++ and
        Lloyd per restart seed, then EM of every restart together, a couple of
        host synchronisations per iteration whatever ``n_init``), instead of
        one scikit-learn fit after another. ``None`` (default): batched on
        CUDA tensors, one by one on the CPU (scikit-learn's own k-means
        initialisations, as before); ``True`` forces it on the CPU too. The batched k-means draws
        other initialisations than scikit-learn's or cuML's, so restarts differ
        from the one-by-one path's for the same seeds.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_cholesky_ : torch.Tensor
        The best restart's parameters (float64, on the device EM ran on),
        tensors whatever the input's type.
    lower_bound_ : float
    converged_ : bool
    n_iter_ : int
    restarts_ : list of dict
        Every restart's seed, lower bound, convergence, iterations and
        whether it won.
    best_restart_ : int
        Index of the winner in ``restarts_`` (the first of equal lower bounds).
    n_features_in_ : int
    """

    _method = "gmm"
    _size_param = "n_components"
    _min_samples = 2  # scikit-learn's mixture needs two samples whatever the components
    _state = ("weights_", "means_", "covariances_", "precisions_cholesky_")
    _scalars = ("lower_bound_", "converged_", "n_iter_")
    _param_rules = (
        ("n_components", Integral, 1), ("n_init", Integral, 1), ("max_iter", Integral, 1),
        ("tol", Real, 0), ("reg_covar", Real, 0),
    )

    def __init__(
        self,
        n_components: int = 1,
        *,
        n_init: int = defaults.CLUSTER_N_INIT,
        max_iter: int = 100,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        random_state=None,
        device=None,
        array_api: bool | None = None,
        batched: bool | None = None,
    ):
        self.n_components, self.n_init, self.max_iter = n_components, n_init, max_iter
        self.tol, self.reg_covar, self.random_state, self.device = tol, reg_covar, random_state, device
        self.array_api, self.batched = array_api, batched

    def predict_proba(self, X):
        """Probability of each component for each sample, in ``X``'s array type."""
        return as_caller(self._sklearn("predict_proba", self._checked(X)), X)

    def score_samples(self, X):
        """Log-likelihood of each sample under the mixture, in ``X``'s array type."""
        return as_caller(self._sklearn("score_samples", self._checked(X)), X)

    def score(self, X, y=None) -> float:
        """Mean log-likelihood of the samples of ``X``."""
        return float(self._sklearn("score_samples", self._checked(X)).mean())

    def _check_params(self) -> None:
        super()._check_params()
        if self.array_api not in (None, True, False):
            raise ConfigError(f"array_api must be None, True or False, got array_api={self.array_api!r}")
        if self.batched not in (None, True, False):
            raise ConfigError(f"batched must be None, True or False, got batched={self.batched!r}")

    def _place(self, X: torch.Tensor, fitting: bool) -> torch.Tensor:
        if not fitting:
            device = self.means_.device
        else:
            device = resolve_device(self.device).torch if self.device is not None else X.device
        return X.to(device=device, dtype=torch.float64)

    def _fit(self, X: torch.Tensor) -> None:
        if X.is_cuda if self.batched is None else self.batched:
            self._fit_batched(X)
            return
        seeds = restart_seeds(self.random_state, self.n_init)
        device = kmeans_device(X)
        use_array_api = self._use_array_api(X)
        best, records = None, []
        for seed in seeds:
            model = self._fit_restart(X, seed, device, use_array_api)
            records.append(
                {"seed": seed, "lower_bound": float(model.lower_bound_), "converged": bool(model.converged_),
                 "n_iter": int(model.n_iter_)}
            )
            if best is None or records[-1]["lower_bound"] > records[best]["lower_bound"]:
                best, best_model = len(records) - 1, model
            self._restart_done(len(records), len(seeds))
        for record_index, record in enumerate(records):
            record["best"] = record_index == best
        self._model, self.restarts_, self.best_restart_ = best_model, records, best
        self.weights_ = to_torch(best_model.weights_, device=X.device)
        self.means_ = to_torch(best_model.means_, device=X.device)
        self.covariances_ = to_torch(best_model.covariances_, device=X.device)
        self.precisions_cholesky_ = to_torch(best_model.precisions_cholesky_, device=X.device)
        self.lower_bound_, self.converged_ = float(best_model.lower_bound_), bool(best_model.converged_)
        self.n_iter_ = int(best_model.n_iter_)
        self._array_api = use_array_api

    def _fit_batched(self, X: torch.Tensor) -> None:
        """Every restart at once: batched torch k-means, then batched EM, on ``X``'s device."""
        seeds = restart_seeds(self.random_state, self.n_init)
        km = batched_kmeans(X, self.n_components, seeds)
        weights, means, precisions = hard_parameters(X, km.labels, self.n_components, self.reg_covar)
        em = batched_em(X, weights, means, precisions, tol=self.tol, reg_covar=self.reg_covar,
                        max_iter=self.max_iter)
        bounds, converged, n_iter = em.lower_bound.tolist(), em.converged.tolist(), em.n_iter.tolist()
        self.restarts_ = [
            {"seed": seed, "lower_bound": float(bounds[i]), "converged": bool(converged[i]), "n_iter": int(n_iter[i]),
             "best": i == em.best}
            for i, seed in enumerate(seeds)
        ]
        self.best_restart_ = em.best
        for name, tensor in em.parameters().items():
            setattr(self, name, tensor.clone())
        record = self.restarts_[em.best]
        self.lower_bound_, self.converged_, self.n_iter_ = record["lower_bound"], record["converged"], record["n_iter"]
        for done in range(1, len(seeds) + 1):
            self._restart_done(done, len(seeds))
        self._restored(X.device)

    def _restored(self, device: torch.device) -> None:
        """A scikit-learn mixture holding the restored parameters, as the best restart's was."""
        self._array_api = self._use_array_api(self.means_)
        model = _SKGaussianMixture(n_components=self.n_components, covariance_type="full", tol=self.tol,
                                   reg_covar=self.reg_covar, max_iter=self.max_iter)
        for name in self._state:
            setattr(model, name, self._native(getattr(self, name), self._array_api))
        model.converged_, model.n_iter_, model.lower_bound_ = self.converged_, self.n_iter_, self.lower_bound_
        model.n_features_in_ = self.n_features_in_
        self._model = model

    def _use_array_api(self, X: torch.Tensor) -> bool:
        """Whether EM runs on the tensors through the Array API (else on NumPy views of CPU tensors)."""
        wanted = X.is_cuda if self.array_api is None else bool(self.array_api)
        if X.is_cuda and not wanted:
            raise ConfigError("array_api=False needs CPU tensors: NumPy cannot view CUDA memory")
        if wanted and not scipy_array_api_enabled():
            if X.is_cuda:
                raise DeviceError(SCIPY_HINT)
            log.warning("SciPy lacks array-API support; running the CPU mixture on NumPy views (no copy)")
            return False
        return wanted

    def _fit_restart(self, X: torch.Tensor, seed: int, device: Device, use_array_api: bool) -> _SKGaussianMixture:
        km = fit_kmeans_once(X, self.n_components, seed, device)
        weights, means, precisions = kmeans_parameters(X, km.labels, self.n_components, self.reg_covar)
        model = _SKGaussianMixture(
            n_components=self.n_components,
            covariance_type="full",
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            init_params="random_from_data",  # overridden: all three initial parameters are given
            weights_init=self._native(weights, use_array_api),
            means_init=self._native(means, use_array_api),
            precisions_init=self._native(precisions, use_array_api),
            random_state=seed,
        )
        with sklearn.config_context(array_api_dispatch=use_array_api):
            return model.fit(self._native(X, use_array_api))

    @staticmethod
    def _native(tensor: torch.Tensor, use_array_api: bool):
        return tensor if use_array_api else tensor.numpy()

    def _sklearn(self, method: str, X: torch.Tensor) -> torch.Tensor:
        """The fitted scikit-learn mixture's ``method`` on a checked, placed tensor."""
        with sklearn.config_context(array_api_dispatch=self._array_api):
            out = getattr(self._model, method)(self._native(X, self._array_api))
        return to_torch(out, device=X.device)

    def _predict(self, X: torch.Tensor) -> torch.Tensor:
        return self._sklearn("predict", X).long()
