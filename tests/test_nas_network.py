import pytest
import torch

from tanas.errors import StrategyConfigError
from tanas.genotypes import EDGES
from tanas.nas import OP_NAMES, Genotype, build_network, count_parameters
from tanas.nas.network import Cell, GenotypeNetwork

G = Genotype.parse("conv_3x3|skip_connect|sep_conv_3x3|none|dil_conv_5x5|conv_7x1_1x7")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 28, 32, 7, 15])
def test_forward_shapes(channels, size):
    net = build_network(G, channels, 5, C=4, N=1, seed=0)
    out = net(torch.randn(3, channels, size, size))
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()


def test_skeleton_stages_and_resolution():
    net = build_network(G, 1, 10, C=4, N=2)
    cells = [m for m in net.cells if isinstance(m, Cell)]
    assert len(cells) == 6  # N cells in each of 3 stages
    feats = net.cells(net.stem(torch.randn(2, 1, 8, 8)))
    assert feats.shape == (2, 16, 2, 2)  # 4C channels, 8 -> 4 -> 2
    assert net.classifier.in_features == 16


def test_count_parameters_is_the_trainable_total():
    net = build_network(G, 3, 10, C=8, N=1)
    manual = sum(p.numel() for p in net.parameters())
    assert count_parameters(net) == manual
    net.classifier.weight.requires_grad_(False)
    assert count_parameters(net) == manual - net.classifier.weight.numel()
    # params grow with width and with heavier ops
    light = build_network(Genotype(("skip_connect",) * 6), 3, 10, C=8)
    heavy = build_network(Genotype(("conv_3x3",) * 6), 3, 10, C=8)
    # one cell per stage at 8, 16, 32 channels; each conv_3x3 edge adds c*c*9 weights + 2c BN parameters
    assert count_parameters(heavy) - count_parameters(light) == sum(6 * (c * c * 9 + 2 * c) for c in (8, 16, 32))


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_network(G, 1, 5, C=4, seed=7)
    after = torch.rand(1)
    b = build_network(G, 1, 5, C=4, seed=7)
    c = build_network(G, 1, 5, C=4, seed=8)
    assert torch.equal(before, after)
    for (n1, p1), (_, p2), (_, _) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(p1, p2), n1
    assert any(not torch.equal(p1, p3) for p1, p3 in zip(a.parameters(), c.parameters()))


def test_cell_matches_reference_dag_evaluation():
    torch.manual_seed(0)
    cell = Cell(G, 4).eval()
    x = torch.randn(2, 4, 6, 6)
    # reference: evaluate every edge op, including 'none' (a zero tensor), and sum per node
    nodes = [x]
    for j in (1, 2, 3):
        nodes.append(sum(cell.ops[k](nodes[i]) for k, (i, jj) in enumerate(EDGES) if jj == j))
    assert torch.allclose(cell(x), nodes[3])


def test_all_none_cell_gives_constant_features():
    net = build_network(Genotype(("none",) * 6), 1, 3, C=4, seed=0).eval()
    out = net(torch.randn(4, 1, 8, 8))
    assert out.shape == (4, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("op", OP_NAMES)
def test_each_op_builds_a_network(op):
    net = build_network(Genotype((op,) * 6), 1, 2, C=2)
    assert isinstance(net, GenotypeNetwork) and net.genotype.ops == (op,) * 6
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 2)


def test_bad_network_arguments():
    with pytest.raises(StrategyConfigError):
        build_network(G, 0, 5)
    with pytest.raises(StrategyConfigError):
        build_network(G, 1, 5, C=0)
