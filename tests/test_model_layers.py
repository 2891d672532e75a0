"""The models' parts on cases worked out by hand: the baseline's architecture, the CCA layer,
the losses and the retrieval metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from pdmx_fusa.model import metrics  # noqa: E402
from pdmx_fusa.model.baseline import Baseline  # noqa: E402
from pdmx_fusa.model.cca import CCALayer, projections  # noqa: E402
from pdmx_fusa.model.fusa import FusaNet  # noqa: E402
from pdmx_fusa.model.losses import info_nce, ranking_loss  # noqa: E402


def test_baseline_parameters_match_the_published_layer_list():
    """Dorfer et al. 2018, per pathway: 2 x (conv3x3, BN) per block of 24, 48, 96, 96 maps, then a
    1x1 conv to 32 and BN; convolutions without bias (BN follows); the CCA layer has no weights."""
    maps = [1, 24, 24, 48, 48, 96, 96, 96, 96]  # input, then every 3x3 conv's output
    convs = sum(9 * a * b for a, b in zip(maps[:-1], maps[1:]))
    norms = sum(2 * b for b in maps[1:])
    per_pathway = convs + norms + 96 * 32 + 2 * 32
    assert per_pathway == 9 * (24 + 24 * 24 + 24 * 48 + 48 * 48 + 48 * 96 + 3 * 96 * 96) + 2 * 528 + 3136 == 331_000
    model = Baseline("cca")
    assert sum(p.numel() for p in model.parameters()) == 2 * per_pathway
    assert sum(p.numel() for p in model.cca.parameters()) == 0
    # the default linear embedding adds one 32 x 32 map with bias per pathway
    assert sum(p.numel() for p in Baseline().parameters()) == 2 * per_pathway + 2 * (32 * 32 + 32)


def test_baseline_layer_shapes():
    model = Baseline().eval()
    for pathway, size, pooled in ((model.sheet, (80, 100), [(40, 50), (20, 25), (10, 12), (5, 6)]),
                                  (model.audio, (92, 42), [(46, 21), (23, 10), (11, 5), (5, 2)])):
        x, seen = torch.zeros(3, 1, *size), []
        for layer in pathway:
            x = layer(x)
            if isinstance(layer, torch.nn.MaxPool2d):
                seen.append((x.shape[1], *x.shape[2:]))
        assert seen == [(w, *hw) for w, hw in zip((24, 48, 96, 96), pooled)]
        assert x.shape == (3, 32)
    for embedding in ("linear", "cca"):
        out = Baseline(embedding).train()(torch.randn(40, 1, 80, 100), torch.randn(40, 1, 92, 42))
        assert out["sheet"].shape == out["audio"].shape == (40, 32)
        assert torch.allclose(out["sheet"].norm(dim=1), torch.ones(40), atol=1e-5)


def test_page_model_shapes():
    model = FusaNet().train()
    out = model(torch.randn(2, 1, 384, 272), torch.randn(2, 1, 92, 800))
    assert out["sheet"].shape == out["audio"].shape == (2, 512)
    assert out["key_sheet"].shape == (2, 15) and out["meter_audio"].shape == (2, 9) and out["polyphony_sheet"].shape == (2, 8)


def correlated(n: int, rho: list[float], seed: int = 0):
    """Two views whose canonical correlations are ``rho``: latent pairs mixed by random
    well-conditioned matrices (a rotation times scales of 1 to 3)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(rho)))
    y = z * rho + rng.standard_normal((n, len(rho))) * np.sqrt(1 - np.square(rho))
    mix_x, mix_y = (np.linalg.qr(rng.standard_normal((len(rho), len(rho))))[0] * rng.uniform(1, 3, len(rho)) for _ in "xy")
    return z @ mix_x + 3.0, y @ mix_y - 1.0


def numpy_cca(x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Reference: singular values of Cxx^-1/2 Cxy Cyy^-1/2 (regularised covariances)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    n = len(x) - 1
    cxx, cyy, cxy = xc.T @ xc / n + r * np.eye(x.shape[1]), yc.T @ yc / n + r * np.eye(y.shape[1]), xc.T @ yc / n

    def inv_sqrt(c):
        w, v = np.linalg.eigh(c)
        return v @ np.diag(w ** -0.5) @ v.T

    return np.linalg.svd(inv_sqrt(cxx) @ cxy @ inv_sqrt(cyy), compute_uv=False)


def test_cca_layer_recovers_known_canonical_correlations():
    rho = [0.9, 0.6, 0.3, 0.0]
    x, y = correlated(50_000, rho)
    reference = numpy_cca(x, y, 1e-3)
    assert np.allclose(reference, rho, atol=0.02)
    layer = CCALayer(4).train()
    tx, ty = torch.tensor(x, dtype=torch.float64, requires_grad=True), torch.tensor(y, dtype=torch.float64)
    px, py = layer(tx.float(), ty.float())
    found = np.array([np.corrcoef(px[:, i].detach(), py[:, i].detach())[0, 1] for i in range(4)])
    assert np.allclose(found[:3], reference[:3], atol=1e-3)  # each projected pair has its correlation
    cov = np.cov(px.detach().numpy().T)
    assert np.allclose(cov, np.eye(4), atol=0.01)  # the projected view is white
    cov = np.cov(x.T, y.T)
    _, _, correlations = projections(*(torch.tensor(c) for c in (cov[:4, :4], cov[4:, 4:], cov[:4, 4:])), r=1e-3)
    assert np.allclose(correlations.numpy(), reference, atol=1e-6)
    px.sum().backward()  # gradients flow through the eigendecompositions
    assert tx.grad is not None and torch.isfinite(tx.grad).all()


def test_cca_fit_gives_the_eval_projection():
    x, y = (torch.tensor(v, dtype=torch.float32) for v in correlated(5_000, [0.8, 0.5, 0.2]))
    layer = CCALayer(3)
    correlations = layer.fit(x, y)
    assert np.allclose(correlations.numpy(), numpy_cca(x.double().numpy(), y.double().numpy(), 1e-3), atol=1e-5)
    trained = layer.train()(x, y)
    evaluated = layer.eval()(x, y)
    for a, b in zip(trained, evaluated):
        assert torch.allclose(a, b, atol=1e-3)


def test_ranking_loss_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # similarities [[1, 0], [0.6, 0.8]]: only x1 against y0 (0.7 - 0.8 + 0.6 = 0.5) and
    # y0 against x1 (0.7 - 1 + 0.6 = 0.3) violate the margin; (0.5 + 0.3) / 2 pairs
    assert ranking_loss(x, y).item() == pytest.approx(0.4)
    assert ranking_loss(y, y).item() == 0.0
    assert ranking_loss(y, y.flip(0)).item() == pytest.approx(4 * 1.7 / 2)


def test_info_nce_by_hand():
    eye = torch.eye(2)
    assert info_nce(eye, eye, temperature=1.0).item() == pytest.approx(math.log(1 + math.exp(-1)))


def test_ranks_and_summary_by_hand():
    similarity = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.7], [0.1, 0.3, 0.2]])
    rank = metrics.ranks(similarity, np.eye(3, dtype=bool))
    assert rank.tolist() == [1, 3, 2]
    found = metrics.summary(rank)
    assert found["R@1"] == pytest.approx(1 / 3) and found["R@5"] == 1.0
    assert found["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3) and found["MR"] == 2
    both = metrics.cross_modal(np.eye(3), similarity)  # audio @ sheet.T == similarity
    assert both["audio_to_sheet"]["MRR"] == pytest.approx(found["MRR"])
    assert metrics.ranks(similarity.T, np.eye(3, dtype=bool)).tolist() == [1, 2, 3]


def test_gap_pieces_pages_and_wrong_hits_by_hand():
    assert metrics.modality_gap(np.array([[1.0, 0.0]] * 2), np.array([[0.0, 1.0]] * 2)) == pytest.approx(math.sqrt(2))
    sheet = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    sheet = sheet / np.linalg.norm(sheet, axis=1, keepdims=True)
    audio = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # recording "r1" (piece A) has excerpts 0 and 1; top 2 snippets: {0, 1} -> A, A; {2, 1} -> B, A
    found = metrics.piece_identification(audio, ["r1", "r1", "r2"], ["A", "A", "B"], sheet, ["A", "A", "B"], top=2)
    assert found == {"recordings": 2, "R@1": 1.0, "MRR": 1.0}
    pages = metrics.page_retrieval(np.array([[1.0, 0.0], [0.0, 1.0]]), ["p1", "p2"], audio, ["p2", "p1", "p2"])
    # p1's only visit (audio 1) is ranked behind audio 0 -> rank 2; p2's best visit (audio 0 or 2) is similarity 1 -> 1
    assert pages == {"pages": 2, "R@1": 0.5, "R@10": 1.0, "MRR": pytest.approx(0.75)}
    wrong = metrics.wrong_top_hits(np.array([[0.1, 0.9, 0.0], [0.0, 1.0, 0.0], [0.8, 0.0, 0.2]]),
                                   {"meter": np.array([3, 3, 1]), "polyphony": np.array([2, 4, 4])})
    # queries 0 and 2 miss: 0 hits 1 (meter 3 = 3, polyphony 4 != 2); 2 hits 0 (1 != 3, 2 != 4)
    assert wrong == {"wrong": 2, "same_meter": 0.5, "same_polyphony": 0.0, "same_all": 0.0}


def test_page_retrieval_by_votes_by_hand():
    # page p1 has snippets [1,0] and [0.8,0.6]; page p2 has [0,1]; visits: v1 (plays p1), v2 and v3 (play p2)
    sheet = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    audio = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.0, 1.0]])  # excerpts of v1, v2, v2, v3
    visits, plays = ["v1", "v2", "v2", "v3"], {"v1": "p1", "v2": "p2", "v3": "p2"}
    # top 1: p1's snippets hit excerpt 0 (v1) and excerpt 2 (v2, similarity 0.96 > 0.8): a tie of one vote each,
    # broken by the mean similarity (v1: 0.9 > v2: 0.64) -> rank 1; p2's snippet hits excerpt 1 (v2) -> rank 1
    found = metrics.page_retrieval_by_votes(sheet, ["p1", "p1", "p2"], audio, visits, plays, top=1)
    assert found == {"pages": 2, "visits": 3, "R@1": 1.0, "R@10": 1.0, "MRR": 1.0}
    # visits without a vote rank by similarity below those with one: p1's only vote goes to v2
    found = metrics.page_retrieval_by_votes(sheet[:1], ["p1"], audio[[1, 2]], ["v1", "v2"], {"v1": "p1", "v2": "p2"}, top=1)
    assert found["R@1"] == 0.0  # v2's excerpt is nearer p1 and takes the vote
