import pytest
import torch

from headless.tiny_models import write_tiny_open_clip
from search import RandomSearch, ZeroOrderSearch
from verifiers import VerifierConditionError, load_self_supervised_verifier


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    return load_self_supervised_verifier(write_tiny_open_clip(tmp_path_factory.mktemp("v") / "clip"), probe_level=0.4)


def images(count: int, seed: int) -> torch.Tensor:
    return torch.rand((count, 40, 40, 3), generator=torch.Generator().manual_seed(seed))


def test_an_image_matching_its_probe_scores_one_and_others_less(verifier):
    finals, others = images(3, 0), images(3, 1)
    assert torch.allclose(verifier.score(finals, None, finals), torch.ones(3), atol=1e-5)
    assert (verifier.score(finals, None, others) < 0.9999).all()


def test_scores_are_per_image(verifier):
    finals, probes = images(4, 2), images(4, 3)
    together = verifier.score(finals, None, probes)
    alone = torch.cat([verifier.score(finals[i : i + 1], None, probes[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_without_a_probe_it_refuses_instead_of_guessing(verifier):
    with pytest.raises(VerifierConditionError, match="random or zero-order"):
        verifier.score(images(1, 0), None, None)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_the_probe_level_is_a_noise_fraction(tmp_path, level):
    with pytest.raises(ValueError, match="probe_level"):
        load_self_supervised_verifier(write_tiny_open_clip(tmp_path / "clip"), probe_level=level)


@pytest.mark.parametrize("algorithm", [RandomSearch(num_candidates=3, batch_size=2),
                                       ZeroOrderSearch(num_neighbours=2, iterations=1, batch_size=2)])
def test_algorithms_hand_each_rows_probe_to_the_scorer(make_denoiser, algorithm):
    class ProbeRecorder:
        def __init__(self):
            self.pairs = []

        def score(self, latents, probes=None):
            self.pairs.append((latents.shape[0], None if probes is None else probes.shape[0]))
            return latents.flatten(1).mean(dim=1)

    recorder = ProbeRecorder()
    algorithm.run(make_denoiser(probe_index=2), recorder, base_seed=1)
    assert recorder.pairs and all(rows == probes for rows, probes in recorder.pairs)
