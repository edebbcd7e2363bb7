"""LBEE (paper 003): describe where a model fails by contrasting hard and easy image clusters.

Images are split into hard and easy (by correctness, confidence or entropy); each set is
clustered (agglomerative, Ward) and each cluster is summarised by its prototype, the normalised
mean embedding. For every hard cluster, sentences are ranked by their similarity to its prototype
and contrasted with the nearest easy prototype; four rules keep ``k`` sentences each:

- TopS: the most similar to the hard prototype, no contrast;
- PDiff: the largest difference of similarity (hard minus easy);
- SetDiff: the most similar to the hard prototype among those not above ``tau`` for the easy one;
- FPDiff: the largest difference among those above ``tau`` for the hard prototype.

Evaluation needs image-sentence relevance: from ground-truth attributes where they exist, or
from CLIP similarity above a chosen threshold. A sentence is a ground-truth failure description
(S*_beta) when the model's mean performance on its relevant images is below the overall mean by
more than ``beta``. Metrics: AHR (share of retained sentences in S*, averaged over clusters),
ACR (share of a cluster's images each retained sentence is relevant to), TPR and Jaccard (JI)
between the union of retained sentences and S*.
"""

from .clusters import (CLUSTER_COLUMNS, METHODS, METRIC_COLUMNS, SELECTION_COLUMNS, SPLITS, LBEEError, cluster,
                       select_sentences, split_hard_easy)
from .explain import LBEEResult, explain_failures, find_hard_clusters
from .metrics import evaluate, ground_truth, relevance_from_attributes, relevance_from_similarity
from . import method  # registers LBEE with the method registry

__all__ = ["CLUSTER_COLUMNS", "METHODS", "METRIC_COLUMNS", "SELECTION_COLUMNS", "SPLITS", "LBEEError", "LBEEResult", "cluster", "explain_failures", "evaluate", "find_hard_clusters", "ground_truth",
           "relevance_from_attributes", "relevance_from_similarity", "select_sentences", "split_hard_easy"]
