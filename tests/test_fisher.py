"""tanas.fisher: per-sample diagonal Fisher, checked against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tanas.errors import ConfigError, DataError, TanasError
from tanas.fisher import (
    FISHER_KINDS,
    FISHER_METHODS,
    FisherError,
    diagonal_fisher,
    diagonal_fisher_with_info,
    fisher_trace,
)

ENGINES = ("hooks", "vmap", "loop", "auto")


# --------------------------------------------------------------------------- models and data


def _randomise_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial running statistics and affine parameters, so BatchNorm's eval mode matters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.2)


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(inplace=True),  # in place on BatchNorm's output: the hooks must still see the right gradient
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, 5),
    )
    _randomise_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model


def inplace_first_layer(seed: int = 0) -> nn.Module:
    """An in-place op right on the first layer's output (AlexNet-style conv -> ReLU(inplace))."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 6),
        nn.ReLU(inplace=True),
        nn.Linear(6, 5),
    )


def small_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(12, 8),
        nn.Tanh(),
        nn.Linear(8, 8, bias=False),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Linear(8, 4),
    )
    _randomise_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model


class _Exotic(nn.Module):
    """Grouped, dilated, 'same'-padded and 1x1-output convolutions, and a Linear on 3-D input."""

    def __init__(self) -> None:
        super().__init__()
        self.grouped = nn.Conv2d(2, 4, 3, padding=2, dilation=2, groups=2)
        self.same = nn.Conv2d(4, 4, (2, 3), padding="same")
        self.bn = nn.BatchNorm2d(4)
        self.to_1x1 = nn.Conv2d(4, 6, 6)  # 6x6 input -> 1x1 output
        self.seq = nn.Linear(6, 5)  # applied to (N, T=6, 6)
        self.head = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.same(torch.tanh(self.grouped(x)))))
        c = self.to_1x1(h).flatten(1)  # (N, 6)
        t = self.seq(c.unsqueeze(1) * c.unsqueeze(2))  # (N, 6, 5)
        return self.head(torch.tanh(t).mean(1))


def exotic(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = _Exotic()
    _randomise_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model


MODELS = {"cnn": small_cnn, "mlp": small_mlp, "exotic": exotic, "inplace": inplace_first_layer}
INPUT_SHAPE = {"cnn": (2, 6, 6), "mlp": (3, 2, 2), "exotic": (2, 6, 6), "inplace": (2, 6, 6)}
NUM_CLASSES = {"cnn": 5, "mlp": 4, "exotic": 3, "inplace": 5}


def make_data(name: str, n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *INPUT_SHAPE[name], generator=gen)
    y = torch.randint(0, NUM_CLASSES[name], (n,), generator=gen)
    return x, y


# --------------------------------------------------------------------------- references


def reference_fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """Naive per-sample loop written independently of tanas: eval mode, one sample at a time."""
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    total = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    for i in range(x.shape[0]):
        logits = model(x[i : i + 1])
        logp = F.log_softmax(logits, dim=1)[0]
        if kind == "empirical":
            classes, weights = [int(y[i])], [1.0]
        else:
            classes = list(range(logp.shape[0]))
            weights = logp.detach().exp().tolist()
        for c, w in zip(classes, weights):
            grads = torch.autograd.grad(logp[c], params, retain_graph=True, allow_unused=True)
            for t, g in zip(total, grads):
                if g is not None:
                    t += w * g.double() ** 2
    for p, flag in zip(params, flags):
        p.requires_grad_(flag)
    return {n: (t / x.shape[0]).float() for n, t in zip(names, total)}


def flat(fisher: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.reshape(-1).double() for v in fisher.values()])


def rel_err(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> float:
    assert list(got) == list(want)
    for k in want:
        assert got[k].shape == want[k].shape, k
    a, b = flat(got), flat(want)
    return float((a - b).norm() / b.norm())


# --------------------------------------------------------------------------- agreement with the reference loop


@pytest.fixture(scope="module")
def references() -> dict[tuple[str, str], dict[str, torch.Tensor]]:
    out = {}
    for name, build in MODELS.items():
        x, y = make_data(name)
        for kind in ("empirical", "exact"):
            out[name, kind] = reference_fisher(build(), x, y, kind)
    return out


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kind", ["empirical", "exact"])
@pytest.mark.parametrize("method", ENGINES)
@pytest.mark.parametrize("name", list(MODELS))
def test_every_engine_matches_the_naive_loop(name, method, kind, references):
    model = MODELS[name]()
    x, y = make_data(name)
    # batch_size 5 over 12 samples: several batches and a ragged last one
    fisher, info = diagonal_fisher_with_info(model, (x, y), kind, method=method, batch_size=5)
    assert rel_err(fisher, references[name, kind]) <= 1e-4
    assert info.n_samples == 12
    assert info.kind == kind
    if method != "auto":
        assert info.method == method
    else:
        assert info.method == "hooks"  # every layer of these models is one the hooks support
    assert all(v.device.type == "cpu" and v.dtype == torch.float32 for v in fisher.values())
    assert [n for n, _ in model.named_parameters()] == list(fisher)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", list(MODELS))
def test_mc_draws_are_shared_by_all_engines(name):
    x, y = make_data(name)
    results = {m: diagonal_fisher(MODELS[name](), (x, y), "mc", method=m, batch_size=5, seed=7) for m in ENGINES}
    for method in ENGINES:
        assert rel_err(results[method], results["loop"]) <= 1e-4, method


def test_mc_is_seeded():
    x, y = make_data("mlp")
    model = small_mlp()
    a = diagonal_fisher(model, (x, y), "mc", seed=1)
    b = diagonal_fisher(model, (x, y), "mc", seed=1)
    c = diagonal_fisher(model, (x, y), "mc", seed=2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_fisher_is_not_the_square_of_the_batch_gradient():
    """The authors' flaw: squaring the gradient of the batch mean gives a much smaller trace."""
    model = small_cnn()
    x, y = make_data("cnn", n=64)
    fisher = diagonal_fisher(model, (x, y), batch_size=64)
    model.eval()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    wrong = sum(float((p.grad.double() ** 2).sum()) for p in model.parameters())
    assert fisher_trace(fisher) > 5 * wrong


# --------------------------------------------------------------------------- closed forms (logistic regression)


def _logreg(d: int = 5, c: int = 4, n: int = 40, seed: int = 3):
    torch.manual_seed(seed)
    model = nn.Linear(d, c)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    y = torch.randint(0, c, (n,), generator=gen)
    return model, x, y


def _logreg_probs(model: nn.Linear, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    X = x.double().numpy()
    W = model.weight.detach().double().numpy()
    b = model.bias.detach().double().numpy()
    z = X @ W.T + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return X, p


@pytest.mark.parametrize("method", ENGINES)
def test_logistic_regression_closed_form(method):
    model, x, y = _logreg()
    X, p = _logreg_probs(model, x)
    n, c = p.shape
    onehot = np.eye(c)[y.numpy()]
    # empirical: d log p(y|x)/dW = (e_y - p) x^T, d/db = e_y - p
    r = onehot - p
    emp_w = np.einsum("nc,nj->cj", r**2, X**2) / n
    emp_b = (r**2).sum(0) / n
    # exact: Σ_c' p_c' (e_c' - p)² ⊗ x²
    exact_r2 = np.zeros((n, c))
    for k in range(c):
        exact_r2 += p[:, [k]] * (np.eye(c)[k][None, :] - p) ** 2
    ex_w = np.einsum("nc,nj->cj", exact_r2, X**2) / n
    ex_b = exact_r2.sum(0) / n

    emp = diagonal_fisher(model, (x, y), "empirical", method=method, batch_size=16)
    ex = diagonal_fisher(model, (x, y), "exact", method=method, batch_size=16)
    np.testing.assert_allclose(emp["weight"].double().numpy(), emp_w, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(emp["bias"].double().numpy(), emp_b, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(ex["weight"].double().numpy(), ex_w, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(ex["bias"].double().numpy(), ex_b, rtol=1e-4, atol=1e-7)
    # and the algebraic simplification Σ_c' p_c'(δ - p)² = p(1 - p)
    np.testing.assert_allclose(ex_b, (p * (1 - p)).sum(0) / n, rtol=1e-10)


def test_mc_agrees_with_exact_within_monte_carlo_error():
    """F_mc is an unbiased estimate of F_exact; its standard error follows from the per-class squares."""
    model, x, y = _logreg(d=4, c=3, n=30, seed=5)
    M = 400
    mc = diagonal_fisher(model, (x, y), "mc", mc_samples=M, seed=11)
    ex = diagonal_fisher(model, (x, y), "exact")
    X, p = _logreg_probs(model, x)
    n, c = p.shape
    # squared gradients for every (sample, label): weight (n, label, c, d), bias (n, label, c)
    r2 = (np.eye(c)[None, :, :] - p[:, None, :]) ** 2
    sq = {"weight": r2[..., None] * (X**2)[:, None, None, :], "bias": r2}
    for name, s in sq.items():
        mean = np.einsum("nl,nl...->n...", p, s)  # E_y[g²] per sample
        second = np.einsum("nl,nl...->n...", p, s**2)  # E_y[g⁴] per sample
        var = (second - mean**2).sum(0) / (M * n * n)
        want = mean.mean(0)
        np.testing.assert_allclose(ex[name].double().numpy(), want, rtol=1e-4, atol=1e-8)
        z = (mc[name].double().numpy() - want) / np.sqrt(var)
        assert np.abs(z).max() < 5.0, name
        assert abs(z.mean()) < 5.0 / math.sqrt(z.size)  # no systematic bias either


# --------------------------------------------------------------------------- data forms, state, fallbacks


def test_dataloader_and_tuple_agree():
    x, y = make_data("cnn")
    model = small_cnn()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=5, shuffle=False)
    a = diagonal_fisher(model, (x, y), batch_size=4)
    b = diagonal_fisher(model, loader)
    c = diagonal_fisher(model, iter([(x[:7], y[:7]), (x[7:], y[7:])]))  # a plain iterator of batches
    assert rel_err(b, a) < 1e-5 and rel_err(c, a) < 1e-5


def test_model_state_is_restored_and_frozen_parameters_are_included():
    model = small_cnn()
    model.train()
    model[1].eval()  # a mixed mode must survive too
    model[0].weight.requires_grad_(False)
    x, y = make_data("cnn")
    ref = reference_fisher(small_cnn(), x, y, "empirical")
    model.train()
    model[1].eval()
    for method in ENGINES:
        hooks_before = [len(m._forward_hooks) for m in model.modules()]
        fisher = diagonal_fisher(model, (x, y), method=method)
        assert rel_err(fisher, ref) <= 1e-4
        assert float(fisher["0.weight"].sum()) > 0  # frozen, but still part of the Fisher
        assert model.training and model[3].training and not model[1].training
        assert not model[0].weight.requires_grad and model[0].bias.requires_grad
        assert [len(m._forward_hooks) for m in model.modules()] == hooks_before
        assert model[0].weight.grad is None


def test_works_inside_no_grad():
    model = small_mlp()
    x, y = make_data("mlp")
    want = diagonal_fisher(model, (x, y))
    with torch.no_grad():
        got = diagonal_fisher(model, (x, y))
        assert not torch.is_grad_enabled()
    assert rel_err(got, want) == 0.0


def test_hooks_are_removed_and_state_restored_when_a_later_batch_fails():
    model = small_cnn()
    x, y = make_data("cnn")
    y[-1] = 99  # only the last batch is bad
    with pytest.raises(DataError, match="labels must lie in"):
        diagonal_fisher(model, (x, y), batch_size=5)
    assert all(not m._forward_hooks for m in model.modules())
    assert all(p.requires_grad for p in model.parameters()) and model.training


class _SharedLinear(nn.Module):
    """One Linear applied twice: per-layer hooks would square each use separately."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(12, 6)
        self.shared = nn.Linear(6, 6)
        self.out = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(x.flatten(1)))
        return self.out(torch.tanh(self.shared(torch.tanh(self.shared(h)))))


class _WeightOutsideModule(nn.Module):
    """A Linear's weight also used through F.linear, outside the module's own forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 12)
        self.out = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.fc(x.flatten(1)))
        return self.out(torch.tanh(F.linear(h, self.fc.weight)))


class _LayerNormNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 8)
        self.norm = nn.LayerNorm(8)
        self.out = nn.Linear(8, 4)
        self.scale = nn.Parameter(torch.tensor(1.5))  # a bare parameter owned by no layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.norm(self.fc(x.flatten(1))))) * self.scale


def _no_running_stats() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU(), nn.Flatten(), nn.Linear(16, 4)
    )


@pytest.mark.parametrize(
    "build",
    [_SharedLinear, _WeightOutsideModule, _LayerNormNet, _no_running_stats],
    ids=["shared-module", "weight-outside-module", "layernorm-and-bare-parameter", "batchnorm-without-running-stats"],
)
def test_auto_falls_back_when_hooks_would_be_wrong(build):
    torch.manual_seed(1)
    model = build()
    x, y = make_data("mlp", n=9)
    ref = reference_fisher(model, x, y, "empirical")
    fisher, info = diagonal_fisher_with_info(model, (x, y), method="auto", batch_size=4)
    assert info.method in ("vmap", "loop")
    assert any(note.startswith("hooks:") for note in info.notes)
    assert rel_err(fisher, ref) <= 1e-4
    with pytest.raises(FisherError, match="hooks"):
        diagonal_fisher(model, (x, y), method="hooks")
    assert all(not m._forward_hooks for m in model.modules())


def test_numeric_check_rejects_hooks_that_pass_the_static_checks():
    # nothing in the module tree betrays the weight used outside its Linear: only the
    # two-sample comparison with the loop can catch it
    torch.manual_seed(1)
    model = _WeightOutsideModule()
    x, y = make_data("mlp", n=9)
    _, info = diagonal_fisher_with_info(model, (x, y), method="auto", batch_size=4)
    assert info.notes and "disagree with the loop's (relative error" in info.notes[0]
    rel = float(info.notes[0].rsplit("relative error ", 1)[1].rstrip(")"))
    assert rel > 1e-2


def test_double_precision_models_are_supported():
    model = small_cnn().double()
    x, y = make_data("cnn")
    ref = reference_fisher(model, x.double(), y, "exact")
    fisher = diagonal_fisher(model, (x.double(), y), "exact", method="hooks")
    assert all(v.dtype == torch.float64 for v in fisher.values())
    a, b = flat(fisher), flat(ref)
    assert float((a - b).norm() / b.norm()) < 1e-6  # the reference was rounded to float32


def test_uses_the_probe_networks():
    from tanas.probe import build_probe

    model = build_probe("cnn", in_channels=1, num_classes=3, input_size=8, seed=0)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 1, 8, 8, generator=gen), torch.randint(0, 3, (6,), generator=gen)
    fisher, info = diagonal_fisher_with_info(model, (x, y))
    assert info.method == "hooks"
    assert set(fisher) == {n for n, _ in model.named_parameters()}
    assert rel_err(fisher, reference_fisher(model, x, y, "empirical")) <= 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", ["hooks", "vmap", "loop"])
def test_cuda_matches_cpu(method):
    model = small_cnn()
    x, y = make_data("cnn")
    cpu = diagonal_fisher(model, (x, y), "mc", method=method, seed=3)
    gpu = diagonal_fisher(model, (x, y), "mc", method=method, seed=3, device="cuda")
    assert all(v.device.type == "cpu" for v in gpu.values())
    assert next(model.parameters()).device.type == "cpu"  # moved back
    assert rel_err(gpu, cpu) <= 1e-4


# --------------------------------------------------------------------------- errors


def test_error_paths():
    model = small_mlp()
    x, y = make_data("mlp")
    assert set(FISHER_KINDS) == {"empirical", "exact", "mc"}
    assert set(FISHER_METHODS) == {"auto", "hooks", "vmap", "loop"}
    with pytest.raises(ConfigError, match="kind"):
        diagonal_fisher(model, (x, y), "diagonal")
    with pytest.raises(ConfigError, match="method"):
        diagonal_fisher(model, (x, y), method="backpack")
    with pytest.raises(ConfigError, match="batch_size"):
        diagonal_fisher(model, (x, y), batch_size=0)
    with pytest.raises(ConfigError, match="mc_samples"):
        diagonal_fisher(model, (x, y), "mc", mc_samples=0)
    with pytest.raises(DataError, match="no samples"):
        diagonal_fisher(model, (x[:0], y[:0]))
    with pytest.raises(DataError, match="no samples"):
        diagonal_fisher(model, [])
    with pytest.raises(DataError, match="same number of samples"):
        diagonal_fisher(model, (x, y[:-1]))
    with pytest.raises(DataError, match="normalise"):
        diagonal_fisher(model, ((x * 10).to(torch.uint8), y))
    with pytest.raises(DataError, match="integer class labels"):
        diagonal_fisher(model, (x, y.float()))
    with pytest.raises(DataError, match=r"labels must lie in 0\.\.3"):
        diagonal_fisher(model, (x, y + 1))
    with pytest.raises(DataError, match="exactly two tensors"):
        diagonal_fisher(model, (x, y, y))
    with pytest.raises(DataError, match="tuple"):
        diagonal_fisher(model, x)
    with pytest.raises(FisherError, match="no parameters"):
        diagonal_fisher(nn.Flatten(), (x, y))
    with pytest.raises(FisherError, match="logits"):
        diagonal_fisher(nn.Sequential(nn.Conv2d(3, 2, 1)), (x, y))
    broken = small_mlp()
    with torch.no_grad():
        broken[1].weight[0, 0] = float("nan")
    with pytest.raises(FisherError, match="not finite"):
        diagonal_fisher(broken, (x, y), method="loop")
    with pytest.raises(ConfigError):
        diagonal_fisher(model, (x, y), device="tpu-of-dreams")
    # every one of them is a TanasError, so the CLI prints one line
    assert issubclass(FisherError, TanasError)


def test_info_is_serialisable():
    x, y = make_data("mlp")
    _, info = diagonal_fisher_with_info(small_mlp(), (x, y), "mc", mc_samples=3)
    d = info.to_dict()
    assert d["kind"] == "mc" and d["mc_samples"] == 3 and d["n_samples"] == 12
    assert d["method"] == "hooks" and d["requested_method"] == "auto" and d["device"] == "cpu"
    assert d["seconds"] > 0 and isinstance(d["notes"], list)
