"""Two slice-discovery baselines written from their papers' descriptions, for the scorecard.

- **Domino-style** (Eyuboglu et al. 2022): an error-aware Gaussian mixture over image embeddings,
  labels and predictions. Domino's mixture multiplies the likelihood of each image's embedding by
  the likelihoods of its label and prediction raised to a weight. Simplified here: one diagonal
  Gaussian mixture (sklearn, EM) over [PCA-whitened embedding, one-hot label, predicted
  probabilities], the label and prediction columns repeated ``weight`` times. With a diagonal
  covariance a column repeated w times counts w times in the log-likelihood, which is Domino's
  weighting; Domino's categorical terms become narrow Gaussians. Components are ranked by their
  error rate (responsibility-weighted); members by responsibility.
- **PlaneSpot-style** (Plumb et al. 2023): per class, a 2-D projection of the embeddings (UMAP
  here; the paper uses scvis) with the model's confidence in the true class appended, clustered
  by a Gaussian mixture whose size the BIC chooses; clusters are ranked by error rate, members by
  their posterior.

Both return candidate slices as a ranking of image positions plus weights over the images (for
naming by the nearest prompt, which the protocol does alike for both).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ScorecardError

# A slice must be able to fill the top 10 it is judged on.
MIN_MEMBERS = 10


@dataclass(repr=False)
class Candidate:
    """A baseline's top slice: test positions most likely in it first, weights for its mean."""

    ranking: np.ndarray
    weights: np.ndarray
    error_rate: float


def _check(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, proba = np.asarray(labels), np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(labels):
        raise ScorecardError(f"proba must be (n, classes) with one row per label; got {proba.shape} for "
                             f"{len(labels)} labels. Fix: pass the model's probabilities on the same images.")
    return labels, proba


def whitened_pca(emb: np.ndarray, n_components: int = 16, seed: int = 0) -> np.ndarray:
    """Embeddings reduced by PCA and scaled to unit variance per component (Domino reduces too).

    Example:
        >>> whitened_pca(np.random.default_rng(0).normal(size=(50, 8)), 3).var(axis=0, ddof=1).round(2).tolist()
        [1.0, 1.0, 1.0]
    """
    from sklearn.decomposition import PCA

    k = min(n_components, emb.shape[1], len(emb))
    return PCA(k, whiten=True, random_state=seed).fit_transform(emb)


def domino(features: np.ndarray, labels, proba, *, n_components: int = 25, weight: int = 10,
           seed: int = 0) -> Candidate | None:
    """The highest-error component of an error-aware mixture (see the module notes).

    ``features`` are the images' reduced embeddings (:func:`whitened_pca`). None when no
    component holds ``MIN_MEMBERS`` images' worth of responsibility with any error.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = np.r_[rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))]
        >>> y = np.r_[np.zeros(60, int), np.zeros(60, int)]
        >>> p = np.r_[np.tile([0.9, 0.1], (60, 1)), np.tile([0.2, 0.8], (60, 1))]
        >>> cand = domino(x, y, p, n_components=2)
        >>> bool(cand.ranking[0] >= 60), round(cand.error_rate, 2)
        (True, 1.0)
    """
    from sklearn.mixture import GaussianMixture

    labels, proba = _check(labels, proba)
    onehot = np.eye(proba.shape[1])[labels]
    x = np.hstack([features, np.repeat(onehot, weight, axis=1), np.repeat(proba, weight, axis=1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EM on near-constant one-hot columns may stop early; the fit still ranks
        resp = GaussianMixture(min(n_components, len(x)), covariance_type="diag", reg_covar=1e-3,
                               random_state=seed).fit(x).predict_proba(x)
    errors = (proba.argmax(axis=1) != labels).astype(float)
    mass = resp.sum(axis=0)
    rate = np.where(mass >= MIN_MEMBERS, resp.T @ errors / np.maximum(mass, 1e-12), -1.0)
    top = int(np.argmax(rate))
    if rate[top] <= 0:
        return None
    return Candidate(np.argsort(-resp[:, top], kind="stable"), resp[:, top], float(rate[top]))


def plane_projection(emb: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 2-D UMAP of the embeddings, standardised (computed once per image set: seconds).

    Example:
        >>> plane_projection(np.random.default_rng(0).normal(size=(40, 8))).shape
        (40, 2)
    """
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UMAP warns that a fixed seed turns off its parallelism
        xy = umap.UMAP(n_components=2, random_state=seed).fit_transform(emb)
    return (xy - xy.mean(axis=0)) / xy.std(axis=0)


def planespot(plane: np.ndarray, labels, proba, *, max_components: int = 10, seed: int = 0) -> Candidate | None:
    """The highest-error cluster of any class in [2-D projection, confidence] space.

    Per class: the images' 2-D coordinates and their standardised confidence in the true class,
    a full-covariance Gaussian mixture with 1..``max_components`` components chosen by BIC, and
    hard clusters of at least ``MIN_MEMBERS`` images. None when no cluster has an error.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> xy = np.r_[rng.normal(0, 0.3, (60, 2)), rng.normal(3, 0.3, (60, 2))]
        >>> p = np.r_[np.tile([0.9, 0.1], (60, 1)), np.tile([0.3, 0.7], (60, 1))]
        >>> cand = planespot(xy, np.zeros(120, int), p, max_components=3)
        >>> bool(cand.ranking[0] >= 60), round(cand.error_rate, 2)
        (True, 1.0)
    """
    from sklearn.mixture import GaussianMixture

    labels, proba = _check(labels, proba)
    errors = proba.argmax(axis=1) != labels
    best: Candidate | None = None
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        conf = proba[idx, c]
        x = np.column_stack([plane[idx], (conf - conf.mean()) / max(conf.std(), 1e-6)])
        fits = [GaussianMixture(k, covariance_type="full", random_state=seed).fit(x)
                for k in range(1, min(max_components, len(idx) // MIN_MEMBERS) + 1)]
        if not fits:
            continue
        gmm = min(fits, key=lambda g: g.bic(x))
        post = gmm.predict_proba(x)
        hard = post.argmax(axis=1)
        for k in range(gmm.n_components):
            members = hard == k
            if members.sum() < MIN_MEMBERS:
                continue
            rate = float(errors[idx[members]].mean())
            if rate > 0 and (best is None or rate > best.error_rate):
                weights = np.zeros(len(labels))
                weights[idx[members]] = 1.0
                best = Candidate(idx[np.argsort(-post[:, k], kind="stable")], weights, rate)
    return best
