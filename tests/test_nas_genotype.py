import json

import pytest
import torch

from tanas.errors import TanasError
from tanas.nas import EDGES, OP_NAMES, Genotype, GenotypeError
from tanas.nas.ops import make_op

G = "conv_3x3|skip_connect|conv_1x1|none|avg_pool_3x3|sep_conv_3x3"


def test_op_set_is_the_eleven_ops_of_the_design():
    assert OP_NAMES == (
        "none",
        "skip_connect",
        "max_pool_3x3",
        "avg_pool_3x3",
        "conv_1x1",
        "conv_3x3",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
        "conv_7x1_1x7",
    )
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_preserves_shape(name):
    op = make_op(name, 6)
    x = torch.randn(2, 6, 7, 9)
    assert op(x).shape == x.shape


def test_convolutions_are_relu_conv_bn():
    op = make_op("conv_3x3", 4)
    kinds = [type(m).__name__ for m in op.children()]
    assert kinds == ["ReLU", "Conv2d", "BatchNorm2d"]
    assert sum(p.numel() for p in op.parameters()) == 4 * 4 * 9 + 2 * 4
    assert make_op("none", 4)(torch.ones(1, 4, 3, 3)).abs().sum() == 0


def test_string_and_json_round_trip():
    g = Genotype.parse(G)
    assert str(g) == G and g.to_str() == G
    assert Genotype.parse(str(g)) == g
    assert Genotype.from_json(json.loads(json.dumps(g.to_json()))) == g
    assert g.to_json() == G.split("|")
    assert Genotype.from_json(G) == g
    assert Genotype.parse(" conv_3x3 | skip_connect|conv_1x1|none|avg_pool_3x3|sep_conv_3x3") == g
    assert hash(g) == hash(Genotype(tuple(G.split("|"))))


def test_unknown_op_error_lists_valid_ops():
    with pytest.raises(GenotypeError) as err:
        Genotype.parse(G.replace("conv_1x1", "conv_2x2"))
    msg = str(err.value)
    assert "conv_2x2" in msg and "1->2" in msg
    assert all(op in msg for op in OP_NAMES)
    assert isinstance(err.value, TanasError)


@pytest.mark.parametrize("ops", [G.split("|")[:5], [*G.split("|"), "none"], []])
def test_wrong_count(ops):
    with pytest.raises(GenotypeError, match="exactly 6"):
        Genotype(tuple(ops))


@pytest.mark.parametrize("value", [42, None, {"ops": 1}])
def test_bad_json(value):
    with pytest.raises(GenotypeError):
        Genotype.from_json(value)


def test_plain_string_is_rejected_by_constructor():
    with pytest.raises(GenotypeError, match="parse"):
        Genotype(G)


def test_hamming_and_replace():
    g = Genotype.parse(G)
    h = g.replace(0, "none").replace(5, "none")
    assert g.hamming(h) == 2 and g.hamming(g) == 0
    with pytest.raises(GenotypeError):
        g.replace(6, "none")
    with pytest.raises(GenotypeError):
        g.replace(0, "bogus")
