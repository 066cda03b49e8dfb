"""The VLM judge on tiny random-weight Qwen2.5-VL and Qwen3-VL folders in their Hugging Face layout.

Parity: each mode's score is recomputed here from transformers' own processor and model, loaded afresh
from the folder, with the prompt rendered from the folder's chat_template.json by jinja2 directly, one image
at a time (no padding).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2
import pytest
import torch
from PIL import Image

from headless.tiny_models import TINY_QWEN2_5_VL_FOLDER, TINY_QWEN3_VL_FOLDER, write_tiny_qwen_vl
from verifiers import VerifierConditionError, VerifierConfigError
from verifiers.vlm_folder import check_vlm_folder, load_vlm
from verifiers.vlm_judge import VLMJudgeModel, VLMJudgeVerifier, load_vlm_judge_model
from verifiers.vlm_prompts import DEFAULT_QUESTION_TEMPLATE, GRADES, RUBRIC_ASPECTS, question_text, rubric_question

HOW_TO_GET = "Download Qwen/Qwen3-VL-8B-Instruct into models/verifiers/Qwen3-VL-8B-Instruct/."
PROMPT = "a red apple on a wooden table"
FAMILIES = {"qwen2_5_vl": TINY_QWEN2_5_VL_FOLDER, "qwen3_vl": TINY_QWEN3_VL_FOLDER}


def transformers_has(model_type: str) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


@pytest.fixture(scope="module", params=list(FAMILIES))
def folder(request, tmp_path_factory) -> Path:
    if not transformers_has(request.param):
        pytest.skip(f"this transformers has no {request.param}")
    return write_tiny_qwen_vl(tmp_path_factory.mktemp(request.param) / FAMILIES[request.param], request.param)


@pytest.fixture(scope="module")
def judge_model(folder) -> VLMJudgeModel:
    return load_vlm_judge_model(folder, torch.float32, HOW_TO_GET)


@pytest.fixture(scope="module")
def reference(folder):
    """transformers' own processor and model for the folder, loaded apart from the judge's."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoProcessor.from_pretrained(str(folder)), AutoModelForImageTextToText.from_pretrained(str(folder)).eval()


def images(count: int, seed: int = 0, height: int = 64, width: int = 80) -> torch.Tensor:
    """Images that are exactly 8-bit, so the judge's quantisation and the reference's PIL images agree."""
    pixels = torch.randint(0, 256, (count, height, width, 3), generator=torch.Generator().manual_seed(seed))
    return pixels.float() / 255


def folder_template(folder: Path) -> jinja2.Template:
    """The folder's chat template in a jinja2 environment set up as transformers sets up its own."""
    template = json.loads((folder / "chat_template.json").read_text())["chat_template"]
    return jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(template)


@torch.no_grad()
def reference_log_probs(folder: Path, reference, question: str, image: torch.Tensor) -> torch.Tensor:
    """log-softmax of the next-token logits after one image and one question, by transformers alone."""
    processor, model = reference
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    prompt = folder_template(folder).render(messages=messages, add_generation_prompt=True)
    pil = Image.fromarray((image * 255).round().to(torch.uint8).numpy())
    inputs = processor(text=[prompt], images=[pil], return_tensors="pt")
    return model(**inputs).logits[0, -1].log_softmax(dim=-1)


def reference_expected_grade(folder, reference, aspect: str, image: torch.Tensor) -> float:
    log_probs = reference_log_probs(folder, reference, rubric_question(aspect, PROMPT), image)
    digit_ids = reference[0].tokenizer.convert_tokens_to_ids([str(grade) for grade in GRADES])
    return float((log_probs[digit_ids].softmax(dim=0) * torch.tensor(GRADES, dtype=torch.float32)).sum())


def test_question_mode_is_the_log_probability_of_yes(folder, judge_model, reference):
    batch = images(2)
    scores = VLMJudgeVerifier(judge_model, "question").score(batch, PROMPT)
    yes = reference[0].tokenizer.convert_tokens_to_ids("Yes")
    question = question_text(DEFAULT_QUESTION_TEMPLATE, PROMPT)
    expected = torch.stack([reference_log_probs(folder, reference, question, image)[yes] for image in batch])
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)
    assert (scores < 0).all() and scores[0] != scores[1]


def test_rubric_mode_is_the_probability_weighted_mean_grade(folder, judge_model, reference):
    batch = images(2, seed=1)
    one = VLMJudgeVerifier(judge_model, "rubric", "visual quality").score(batch, PROMPT)
    overall = VLMJudgeVerifier(judge_model, "rubric", "overall").score(batch, PROMPT)
    expected = torch.tensor([[reference_expected_grade(folder, reference, aspect, image) for aspect in RUBRIC_ASPECTS]
                             for image in batch])
    torch.testing.assert_close(one, expected[:, list(RUBRIC_ASPECTS).index("visual quality")], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(overall, expected.mean(dim=1), atol=1e-5, rtol=1e-5)
    assert ((overall > 0) & (overall < 9)).all() and overall[0] != overall[1]


@pytest.mark.parametrize("mode", ["question", "rubric"])
def test_a_batch_of_four_scores_as_four_single_images(judge_model, mode):
    batch = images(4, seed=2)
    verifier = VLMJudgeVerifier(judge_model, mode, max_batch_size=3)  # rubric: passes mix aspects, so rows are padded
    together = verifier.score(batch, PROMPT)
    alone = torch.cat([verifier.score(batch[i:i + 1], PROMPT) for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    assert len(set(together.tolist())) == 4  # continuous: no ties between different images


def test_scores_are_deterministic(judge_model):
    verifier = VLMJudgeVerifier(judge_model, "question", max_batch_size=3)
    first = verifier.score(images(4, seed=2), PROMPT)
    torch.testing.assert_close(verifier.score(images(4, seed=2), PROMPT), first, atol=0, rtol=0)


def test_rows_of_different_lengths_are_left_padded(judge_model):
    prompts = [judge_model.render("Yes?"), judge_model.render(rubric_question("originality", PROMPT))]
    pil = [Image.new("RGB", (64, 64)), Image.new("RGB", (64, 64))]
    mask = judge_model.batch(prompts, pil)["attention_mask"]
    assert mask[0, 0] == 0 and mask[:, -1].all()  # the shorter row is padded on the left, every row ends with a token


def test_a_pass_that_runs_out_of_memory_is_retried_in_halves(judge_model):
    batch = images(5, seed=3)
    verifier = VLMJudgeVerifier(judge_model, "question", max_batch_size=8)
    expected = verifier.score(batch, PROMPT)
    passes = []

    def out_of_memory_above_two_rows(module, args, kwargs):
        passes.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    handle = judge_model.vlm.register_forward_pre_hook(out_of_memory_above_two_rows, with_kwargs=True)
    try:
        scores = verifier.score(batch, PROMPT)
    finally:
        handle.remove()
    assert passes == [5, 2, 2, 1]  # halved once, then every image scored: none dropped
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)


def test_the_prompt_is_rendered_by_the_folders_chat_template(folder, tmp_path):
    changed = shutil.copytree(folder, tmp_path / "changed")
    template = json.loads((changed / "chat_template.json").read_text())["chat_template"]
    template = template.replace("<|im_start|>assistant\n", "<|im_start|>assistant\nVerdict: ")
    (changed / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    for stale in changed.glob("chat_template.jinja"):  # a copy transformers 5 may also save with the tokenizer
        stale.unlink()
    rendered = load_vlm_judge_model(changed, torch.float32, HOW_TO_GET).render("Is it red?")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is it red?"}]}]
    assert rendered == folder_template(changed).render(messages=messages, add_generation_prompt=True)
    assert rendered.endswith("<|im_start|>assistant\nVerdict: ")


def test_a_reasoning_model_whose_answer_opens_with_a_thought_is_refused(folder, tmp_path):
    thinking = shutil.copytree(folder, tmp_path / "thinking")
    template = json.loads((thinking / "chat_template.json").read_text())["chat_template"]
    template = template.replace("<|im_start|>assistant\n", "<|im_start|>assistant\n<think>\n")
    (thinking / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    for stale in thinking.glob("chat_template.jinja"):
        stale.unlink()
    with pytest.raises(VerifierConfigError, match=r"is a reasoning \('Thinking'\) model.*Use an Instruct model"):
        load_vlm_judge_model(thinking, torch.float32, HOW_TO_GET)


def test_code_in_the_folder_is_never_run(folder, tmp_path):
    planted = shutil.copytree(folder, tmp_path / "planted")
    marker = tmp_path / "remote_code_ran"
    (planted / "modeling_planted.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass PlantedModel: pass\n")
    config = json.loads((planted / "config.json").read_text())
    config["auto_map"] = {"AutoModelForImageTextToText": "modeling_planted.PlantedModel"}
    (planted / "config.json").write_text(json.dumps(config))
    model, _ = load_vlm(planted, torch.float32)
    assert type(model).__module__.startswith("transformers.") and not marker.exists()


def test_a_folder_of_another_architecture_is_refused_naming_it(folder, tmp_path):
    other = shutil.copytree(folder, tmp_path / "other")
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "llava",
                                                   "architectures": ["LlavaForConditionalGeneration"]}))
    with pytest.raises(VerifierConfigError, match=r"'llava' model \(LlavaForConditionalGeneration\), which the VLM judge "
                                                  r"does not run; it runs Qwen2.5-VL \('qwen2_5_vl'\), Qwen3-VL"):
        check_vlm_folder(other, HOW_TO_GET)


def test_an_architecture_this_transformers_lacks_names_the_version_needed(folder, monkeypatch):
    import transformers
    from transformers.models.auto import modeling_auto

    model_type = json.loads((folder / "config.json").read_text())["model_type"]
    monkeypatch.delitem(modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES, model_type)
    version = {"qwen2_5_vl": "4.49.0", "qwen3_vl": "4.57.0"}[model_type]
    with pytest.raises(VerifierConfigError, match=rf"needs transformers {version} or newer; this Python has transformers "
                                                  rf"{transformers.__version__}"):
        check_vlm_folder(folder, HOW_TO_GET)


@pytest.mark.parametrize("removed, named", [
    (("preprocessor_config.json",), "preprocessor_config.json (the image processor's settings)"),
    (("chat_template.json", "chat_template.jinja"), "chat_template.json (the chat template)"),
    (("tokenizer.json", "vocab.json", "merges.txt"), "tokenizer.json (the tokenizer)"),
    (("model-00002-of-*.safetensors",), "model-00002-of-"),
])
def test_missing_files_are_named_with_the_folder_and_where_to_get_them(folder, tmp_path, removed, named):
    broken = shutil.copytree(folder, tmp_path / "broken")
    for path in [path for pattern in removed for path in broken.glob(pattern)]:
        path.unlink()
    with pytest.raises(VerifierConfigError) as error:
        load_vlm_judge_model(broken, torch.float32, HOW_TO_GET)
    assert f"the model folder {broken} lacks" in str(error.value) and named in str(error.value)
    assert str(error.value).endswith(HOW_TO_GET)


def test_pickled_weights_are_refused(folder, tmp_path):
    pickled = shutil.copytree(folder, tmp_path / "pickled")
    for path in pickled.glob("model*.safetensors*"):
        path.unlink()
    torch.save({}, str(pickled / "pytorch_model.bin"))
    with pytest.raises(VerifierConfigError, match=r"only pickled weights \(pytorch_model\.bin\), which the judge refuses"):
        check_vlm_folder(pickled, HOW_TO_GET)


def test_bad_settings_and_an_empty_prompt_are_errors(judge_model):
    with pytest.raises(VerifierConfigError, match=r"question_template must contain \{verifier_text\}"):
        VLMJudgeVerifier(judge_model, "question", question_template="Is this image good?")
    with pytest.raises(VerifierConfigError, match="aspect 'beauty' is not one of overall, accuracy to prompt"):
        VLMJudgeVerifier(judge_model, "rubric", "beauty")
    with pytest.raises(VerifierConfigError, match="mode 'caption' is not one of question, rubric"):
        VLMJudgeVerifier(judge_model, "caption")
    with pytest.raises(VerifierConditionError, match=r"VLM judge .* \(question\) asks about verifier_text, and it is empty"):
        VLMJudgeVerifier(judge_model, "question").score(images(1), "  ")


def test_an_answer_word_the_tokenizer_splits_is_refused(judge_model):
    with pytest.raises(VerifierConfigError, match="splits 'Absolutely' into .* tokens"):
        judge_model.single_token("Absolutely")


def test_non_finite_scores_are_an_error_not_a_ranking(folder):
    model = load_vlm_judge_model(folder, torch.float32, HOW_TO_GET)
    with torch.no_grad():
        model.vlm.get_output_embeddings().weight[0, 0] = float("nan")
    with pytest.raises(VerifierConfigError, match="gave non-finite scores in torch.float32"):
        VLMJudgeVerifier(model, "question").score(images(1), PROMPT)
