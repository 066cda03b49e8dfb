"""Source similarity and temporal consistency: image features compared, and the features as their models make them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from headless.tiny_models import write_tiny_dinov2, write_tiny_open_clip
from verifiers import SourceSimilarityVerifier, TemporalConsistencyVerifier, VerifierConfigError, load_image_features
from verifiers.image_features import DINOv2ImageFeatures, EncoderImageFeatures
from verifiers.open_clip_loading import load_clip_score_verifier
from verifiers.source_similarity import EDITED_REGION, KEPT_REGION


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    dinov2, _ = write_tiny_dinov2(root / "dinov2", root / "head.pth")
    return {"dinov2": dinov2, "clip": write_tiny_open_clip(root / "clip")}


@pytest.fixture(scope="module", params=["dinov2", "clip"])
def features(request, folders):
    return load_image_features(folders[request.param], "auto")


def images(count: int, seed: int, size: tuple[int, int] = (40, 48)) -> torch.Tensor:
    return torch.rand((count, *size, 3), generator=torch.Generator().manual_seed(seed))


def test_the_loader_picks_the_tower_from_the_folder(folders):
    assert isinstance(load_image_features(folders["dinov2"], "auto"), DINOv2ImageFeatures)
    assert isinstance(load_image_features(folders["clip"], "auto"), EncoderImageFeatures)


def test_dinov2_features_are_the_pooled_class_token_of_transformers_own_preprocessing(folders):
    """Parity with transformers' DINOv2 image processor (shortest side 256/224 of the crop, bicubic, centre crop,
    ImageNet normalisation) and the model's own pooler output."""
    from transformers import BitImageProcessor, Dinov2Model

    ours = load_image_features(folders["dinov2"], "auto")
    batch = images(3, 1, size=(48, 64))
    processor = BitImageProcessor(size={"shortest_edge": ours.resize_size}, crop_size={"height": 32, "width": 32},
                                  do_convert_rgb=False, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    pixels = processor([np.asarray(image * 255).round().astype(np.uint8) for image in batch], return_tensors="pt")
    model = Dinov2Model.from_pretrained(str(folders["dinov2"]), local_files_only=True).eval()
    with torch.inference_mode():
        expected = F.normalize(model(pixel_values=pixels["pixel_values"]).pooler_output, dim=-1)
    quantised = (batch * 255).round() / 255  # what the processor was given
    cosine = (ours.features(quantised) * expected).sum(dim=-1)
    assert torch.all(cosine > 0.999), cosine  # resampling differs (PIL's bicubic vs torch's), not the recipe


def test_clip_features_are_the_ones_clip_score_compares_with_the_prompt(folders):
    clip = load_clip_score_verifier(folders["clip"])
    ours = load_image_features(folders["clip"], "auto")
    batch = images(2, 2)
    with torch.inference_mode():
        text = F.normalize(clip.module.encode_text(clip.tokenizer(["a red apple"])).float(), dim=-1)[0]
    torch.testing.assert_close(100 * ours.features(batch) @ text, clip.score(batch, "a red apple"), rtol=1e-5, atol=1e-4)


def test_a_non_dinov2_transformers_folder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(VerifierConfigError, match="not DINOv2"):
        load_image_features(tmp_path, "auto")


def test_the_source_scores_one_and_others_score_less(features):
    source = images(1, 3)
    verifier = SourceSimilarityVerifier(features, source)
    scores = verifier.score(torch.cat([source, images(3, 4)]), None)
    assert scores.shape == (4,) and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert torch.all(scores[1:] < scores[0] - 1e-4)


def test_a_candidates_score_does_not_depend_on_its_batch(features):
    verifier = SourceSimilarityVerifier(features, images(1, 3))
    batch = images(4, 5)
    alone = torch.cat([verifier.score(batch[i : i + 1], None) for i in range(4)])
    torch.testing.assert_close(verifier.score(batch, None), alone, rtol=1e-5, atol=1e-5)


def test_a_source_of_another_size_is_resized_to_the_candidates(features):
    source = images(1, 3, size=(40, 48))
    bigger = F.interpolate(source.permute(0, 3, 1, 2), size=(80, 96), mode="bilinear").permute(0, 2, 3, 1)
    score = SourceSimilarityVerifier(features, bigger).score(source, None)
    assert score[0] > 0.99


def test_a_mask_limits_the_comparison_to_its_region(features):
    source = images(1, 6)
    mask = torch.zeros((40, 48))
    mask[10:30, 12:36] = 1.0
    inside_changed = torch.where(mask[None, :, :, None] > 0, images(1, 7), source)
    kept = SourceSimilarityVerifier(features, source, mask, KEPT_REGION)
    edited = SourceSimilarityVerifier(features, source, mask, EDITED_REGION)
    assert kept.score(inside_changed, None)[0] == pytest.approx(1.0, abs=1e-5)  # the edit did not touch what is kept
    assert edited.score(inside_changed, None)[0] < 1.0 - 1e-4


@pytest.mark.parametrize("reference, mask, region, message", [
    (torch.rand(2, 8, 8, 3), None, "whole image", "one image"),
    (torch.rand(1, 8, 8, 3), torch.ones(8, 9), KEPT_REGION, "use the mask made for that image"),
    (torch.rand(1, 8, 8, 3), None, EDITED_REGION, "needs a mask"),
    (torch.rand(1, 8, 8, 3), torch.ones(2, 8, 8), KEPT_REGION, "one mask"),
])
def test_bad_references_and_masks_are_refused(folders, reference, mask, region, message):
    with pytest.raises(ValueError, match=message):
        SourceSimilarityVerifier(load_image_features(folders["clip"], "auto"), reference, mask, region)


def test_a_still_video_is_perfectly_consistent_and_flicker_is_not(features):
    verifier = TemporalConsistencyVerifier(features)
    still = images(1, 8).expand(4, -1, -1, -1)
    flicker = images(4, 9)
    scores = verifier.score(torch.stack([still, flicker]), None)
    assert scores[0] == pytest.approx(1.0, abs=1e-5) and scores[1] < scores[0] - 1e-4


def test_temporal_consistency_is_the_mean_of_consecutive_frames_similarity(features):
    frames = images(5, 10)
    embedded = features.features(frames)
    expected = torch.stack([embedded[t] @ embedded[t + 1] for t in range(4)]).mean()
    videos = torch.stack([frames, frames.flip(0)])
    scores = TemporalConsistencyVerifier(features).score(videos, None)
    assert scores[0] == pytest.approx(float(expected), abs=1e-5) and scores[1] == pytest.approx(float(expected), abs=1e-5)


def test_temporal_consistency_needs_videos_of_two_frames(features):
    verifier = TemporalConsistencyVerifier(features)
    assert verifier.scores_videos
    with pytest.raises(ValueError, match="at least two"):
        verifier.score(images(2, 0)[:, None], None)
    with pytest.raises(ValueError, match="videos"):
        verifier.score(images(2, 0), None)
