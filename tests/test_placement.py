"""New points on a fitted layout: as umap-learn's transform starts them, and independent of their batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpun2d.placement import bandwidths, nearest, place


@pytest.fixture(scope="module")
def fitted_umap():
    """umap-learn fitted on continuous data (no distance ties), with held-back rows."""
    import umap

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=6, size=(4, 6))
    X = (centers[rng.integers(0, 4, 700)] + rng.normal(size=(700, 6))).astype(np.float32)
    model = umap.UMAP(n_neighbors=15, min_dist=0.0, n_components=3, random_state=0).fit(X[:600])
    return model, X[:600], X[600:]


def test_matches_umap_learn_graph_transform(fitted_umap):
    from umap.umap_ import init_graph_transform

    model, train, new = fitted_umap
    model.transform_mode = "graph"  # umap-learn's own membership graph of the new points, no optimisation
    graph = model.transform(new).tocsr()
    graph.eliminate_zeros()
    reference = init_graph_transform(graph, model.embedding_)
    ours = place(torch.from_numpy(new), torch.from_numpy(train), torch.from_numpy(model.embedding_), 15)
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-4, atol=1e-4)


def test_a_row_lands_where_it_lands_in_any_batch(fitted_umap):
    model, train, new = fitted_umap
    args = torch.from_numpy(train), torch.from_numpy(model.embedding_), 15
    together = place(torch.from_numpy(new), *args)
    alone = torch.cat([place(torch.from_numpy(new[i : i + 1]), *args) for i in range(len(new))])
    reversed_ = place(torch.from_numpy(new[::-1].copy()), *args).flip(0)
    assert torch.equal(together, alone) and torch.equal(together, reversed_)


def test_training_rows_land_on_their_own_position(fitted_umap):
    model, train, _ = fitted_umap
    placed = place(torch.from_numpy(train), torch.from_numpy(train), torch.from_numpy(model.embedding_), 15)
    assert torch.equal(placed, torch.from_numpy(model.embedding_))


def test_nearest_is_exact_and_sorted():
    rng = np.random.default_rng(1)
    reference = torch.from_numpy(rng.normal(size=(300, 4)))
    queries = torch.cat([reference[:5], torch.from_numpy(rng.normal(size=(20, 4)))])
    distances, indices = nearest(queries, reference, 7, chunk=8)
    brute = torch.cdist(queries, reference, compute_mode="donot_use_mm_for_euclid_dist")
    expected = torch.sort(brute, dim=1, stable=True)
    assert torch.equal(indices, expected.indices[:, :7])
    torch.testing.assert_close(distances, expected.values[:, :7])
    assert torch.equal(distances[:5, 0], torch.zeros(5, dtype=distances.dtype))


def test_bandwidth_solves_umaps_equation():
    rng = np.random.default_rng(2)
    distances = torch.from_numpy(np.sort(rng.uniform(0.5, 3.0, size=(50, 15)), axis=1))
    sigma = bandwidths(distances, 15)
    psum = torch.exp(-distances[:, 1:] / sigma[:, None]).sum(1)
    torch.testing.assert_close(psum, torch.full_like(psum, np.log2(15)), rtol=0, atol=1e-4)


def test_exact_knn_graph_puts_every_point_first_even_when_duplicated():
    """The graph code cuML UMAP gets with umap_knn='exact', run with scikit-learn's NearestNeighbors."""
    from sklearn.neighbors import NearestNeighbors

    from gpun2d.manifold import UMAPParams, exact_knn_graph

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    X = np.concatenate([X, X[:10], X[:10]])  # rows 0-9 appear three times each
    params = UMAPParams(n_components=2, n_neighbors=6)
    indices, distances = exact_knn_graph(X, params, neighbors=NearestNeighbors(algorithm="brute"))
    assert indices.shape == distances.shape == (60, 6)
    np.testing.assert_array_equal(indices[:, 0], np.arange(60))
    np.testing.assert_array_equal(distances[:, 0], 0)
    assert (np.diff(distances, axis=1) >= 0).all()
    assert all(row[0] not in row[1:] for row in indices)  # a point is never its own neighbour twice
    twins = {0, 40, 50}
    assert set(indices[0, :3]) == twins  # its duplicates come right after it, at distance 0


def test_the_kd_tree_finds_the_same_neighbours_as_the_brute_force():
    """The CPU's candidate search (a KD-tree) against the matrix-product one, ties and duplicates included."""
    from gpun2d.placement import nearest, reference_tree

    generator = torch.Generator().manual_seed(0)
    reference = torch.randn(3000, 10, generator=generator)
    reference[1000:1010] = reference[5]  # duplicated rows: equal distances, broken by reference order
    queries = torch.cat([torch.randn(500, 10, generator=generator), reference[:50], reference[1000:1003]])
    brute = nearest(queries, reference, 20)
    tree = nearest(queries, reference, 20, tree=reference_tree(reference))
    assert torch.equal(tree[1], brute[1]) and torch.equal(tree[0], brute[0])
