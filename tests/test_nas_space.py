import itertools
import json
import math

import numpy as np
import pytest
import torch

from tanas.nas import OP_NAMES, Genotype, SearchSpace, SearchSpaceError

A = Genotype.parse("conv_3x3|skip_connect|conv_1x1|none|avg_pool_3x3|sep_conv_3x3")
B = Genotype.parse("conv_1x1|skip_connect|conv_1x1|none|avg_pool_3x3|sep_conv_5x5")
SMALL = ("none", "skip_connect", "conv_1x1", "conv_3x3")


def brute(space: SearchSpace, universe) -> set:
    """Independent reference: enumerate universe^6 and apply the set definition literally."""
    members = set()
    for ops in itertools.product(universe, repeat=6):
        in_product = all(o in e for o, e in zip(ops, space.edges))
        near = any(sum(x != y for x, y in zip(ops, a.ops)) <= space.radius for a in space.anchors)
        if in_product or near:
            members.add(Genotype(ops))
    return members


def test_full_space_size():
    assert SearchSpace.full().size == 11**6 == 1_771_561
    assert SearchSpace.full().contains(A)


def test_restricted_product():
    s = SearchSpace.restricted([A, B])
    assert s.edges[0] == ("conv_1x1", "conv_3x3") and s.edges[1] == ("skip_connect",)
    assert s.size == 4 == s.product_size
    assert A in s and B in s and Genotype.parse("conv_3x3|skip_connect|conv_1x1|none|avg_pool_3x3|sep_conv_5x5") in s
    assert Genotype.parse("none|skip_connect|conv_1x1|none|avg_pool_3x3|sep_conv_5x5") not in s


def test_radius_counts_on_full_universe_match_numpy_enumeration():
    # Hamming balls of radius 1 and 2 around A and B over all 11^6 genotypes.
    idx = np.array(list(itertools.product(range(11), repeat=3)), dtype=np.int8)
    grid = np.concatenate([np.repeat(idx, len(idx), axis=0), np.tile(idx, (len(idx), 1))], axis=1)
    a, b = np.array(A.indices), np.array(B.indices)
    da, db = (grid != a).sum(1), (grid != b).sum(1)
    for r in (1, 2):
        expected = int(((da <= r) | (db <= r)).sum())  # the product part (4) lies inside both balls
        assert SearchSpace.restricted([A, B], radius=r).size == expected
    # closed form for one ball: sum_k C(6,k) 10^k
    assert SearchSpace.restricted([A], radius=2).size == sum(math.comb(6, k) * 10**k for k in range(3))


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_radius_space_matches_brute_force_on_small_universe(radius):
    gen = torch.Generator().manual_seed(radius)
    anchors = [Genotype(tuple(SMALL[int(i)] for i in torch.randint(4, (6,), generator=gen))) for _ in range(3)]
    space = SearchSpace.restricted(anchors, radius=radius, universe=SMALL)
    expected = brute(space, SMALL)
    assert space.size == len(expected)
    listed = list(space.enumerate())
    assert set(listed) == expected and len(listed) == len(expected)
    assert all(space.contains(g) for g in listed)
    assert [space.index_of(g) for g in listed] == list(range(space.size))
    outside = [Genotype(o) for o in itertools.product(SMALL, repeat=6) if Genotype(o) not in expected]
    assert not any(space.contains(g) for g in outside)


def test_general_product_plus_ball():
    edges = [("none", "conv_1x1")] * 3 + [("skip_connect",)] * 3
    space = SearchSpace(edges=tuple(edges), anchors=(A,), radius=1, universe=OP_NAMES)
    ref_ball = 1 + 6 * 10
    product = {Genotype(o) for o in itertools.product(*edges)}
    ball = {A} | {A.replace(k, op) for k in range(6) for op in OP_NAMES}
    assert len(ball) == ref_ball
    assert space.size == len(product | ball)


def test_sampling_is_uniform_and_seeded():
    space = SearchSpace.restricted(
        [A, B], radius=1, universe=(*SMALL, "conv_3x3", "avg_pool_3x3", "sep_conv_3x3", "sep_conv_5x5")
    )
    n = space.size
    draws = 200 * n
    gen = torch.Generator().manual_seed(0)
    counts = {}
    for _ in range(draws):
        g = space.sample(gen)
        counts[g] = counts.get(g, 0) + 1
    assert len(counts) == n and all(g in space for g in counts)
    # chi-square goodness of fit against uniform; df = n-1, the 0.999 quantile is < n-1 + 5*sqrt(2(n-1))
    chi2 = sum((c - 200) ** 2 / 200 for c in counts.values())
    assert chi2 < (n - 1) + 5 * math.sqrt(2 * (n - 1))
    g1 = [space.sample(torch.Generator().manual_seed(7)) for _ in range(3)]
    assert g1[0] == g1[1] == g1[2]


def test_sample_distinct():
    space = SearchSpace.restricted([A, B])
    gen = torch.Generator().manual_seed(0)
    got = space.sample_distinct(10, gen, exclude=[A])
    assert len(got) == 3 and A not in got and len(set(got)) == 3
    big = SearchSpace.full().sample_distinct(20, gen, exclude=[A])
    assert len(set(big)) == 20 and A not in big


def test_best_matches_brute_force():
    space = SearchSpace.restricted(
        [A, B], radius=1, universe=(*SMALL, "conv_3x3", "avg_pool_3x3", "sep_conv_3x3", "sep_conv_5x5")
    )
    members = list(space.enumerate())
    for seed in range(5):
        scores = torch.randn(6, 11, generator=torch.Generator().manual_seed(seed))
        best = space.best(scores)

        def total(g, scores=scores):
            return sum(float(scores[k, g.indices[k]]) for k in range(6))

        assert best in space
        assert total(best) == pytest.approx(max(total(g) for g in members))
    # on the full space best == per-edge argmax
    scores = torch.randn(6, 11, generator=torch.Generator().manual_seed(9))
    assert SearchSpace.full().best(scores).indices == tuple(scores.argmax(1).tolist())


def test_edge_ops():
    assert SearchSpace.restricted([A, B]).edge_ops(0) == ("conv_1x1", "conv_3x3")
    assert SearchSpace.restricted([A, B], radius=1).edge_ops(1) == OP_NAMES


def test_dict_and_file_forms(tmp_path):
    s = SearchSpace.from_dict({"genotypes": [A.to_json(), str(B)], "radius": 1})
    assert s == SearchSpace.restricted([A, B], radius=1)
    assert SearchSpace.from_dict(s.to_dict()) == s
    edges = {"edges": [["conv_3x3", "skip_connect"]] * 6}
    path = tmp_path / "space.json"
    path.write_text(json.dumps(edges))
    assert SearchSpace.load(path).size == 2**6
    assert SearchSpace.from_dict(SearchSpace.full().to_dict()) == SearchSpace.full()


@pytest.mark.parametrize(
    "data, match",
    [
        ({"edges": [["conv_3x3"]] * 5}, "6 edges"),
        ({"edges": [["conv_3x3"]] * 5 + [[]]}, "no ops"),
        ({"edges": [["conv_3x3"]] * 5 + [["conv_9x9"]]}, "conv_9x9"),
        ({"genotypes": [], "radius": 1}, "non-empty"),
        ({"genotypes": [str(A)], "radius": 7}, "radius"),
        ({"genotypes": ["conv_3x3|none"]}, "bad genotype"),
        ({"edges": [["none"]] * 6, "genotypes": [str(A)]}, "not both"),
        ({"edgez": []}, "unknown key"),
        ({}, "needs"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_space_definitions(data, match):
    with pytest.raises(SearchSpaceError, match=match):
        SearchSpace.from_dict(data)


def test_bad_files(tmp_path):
    with pytest.raises(SearchSpaceError, match="does not exist"):
        SearchSpace.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SearchSpaceError, match="cannot read"):
        SearchSpace.load(bad)


def test_unrank_bounds_and_nonmember_index():
    s = SearchSpace.restricted([A, B])
    with pytest.raises(SearchSpaceError):
        s.unrank(4)
    with pytest.raises(SearchSpaceError, match="not in"):
        s.index_of(A.replace(0, "none"))
