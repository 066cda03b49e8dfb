"""Finding and loading open_clip weights from local files.

Two layouts are recognised in a models folder:
- a folder holding ``open_clip_config.json`` and its weights (the layout of open_clip's hub
  repositories; any architecture, including ones open_clip does not ship a config for);
- a single checkpoint file (``.safetensors``, ``.bin``, ``.pt``, ``.pth``) of one of open_clip's
  built-in architectures, named in the loader or guessed from the file name.

Some architectures (SigLIP, NLLB, MT5, XLM-R...) name a Hugging Face repository for their tokenizer or
text-model config, which open_clip would fetch from the hub. Those are read from a folder named after
the repository next to the weights, or from the local Hugging Face cache; the hub is used only when the
user allowed downloads, and otherwise the loader refuses, before any network access, saying what to put where.
"""

from __future__ import annotations

import json
import logging
import posixpath
from pathlib import Path
from typing import Any, Iterable

from .aesthetic import AestheticVerifier, load_head_state
from .clip_score import CLIPScoreVerifier
from .errors import VerifierConfigError
from .image_features import EncoderImageFeatures
from .self_supervised import SelfSupervisedVerifier
from .zero_shot import CLIPZeroShotVerifier, imagenet_1k_classes

logger = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
CONFIG_FILENAME = "open_clip_config.json"
AUTO_ARCHITECTURE = "auto"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def list_open_clip_weights(files: Iterable[str]) -> list[str]:
    """What the open_clip loaders can read among a models folder's files ('/'-separated, relative to it).

    The folders holding ``open_clip_config.json``, and the checkpoint files outside such folders.
    """
    files = list(files)
    config_folders = {posixpath.dirname(name) for name in files if posixpath.basename(name) == CONFIG_FILENAME}
    checkpoints = {name for name in files if name.endswith(WEIGHT_SUFFIXES) and posixpath.dirname(name) not in config_folders}
    return sorted((config_folders - {""}) | checkpoints)


def builtin_architectures() -> list[str]:
    import open_clip

    return list(open_clip.list_models())


def guess_architecture(filename: str) -> str | None:
    """The longest built-in architecture name found in the file name, ignoring case and '-'/'_'/'/'."""

    def simplify(text: str) -> str:
        return text.lower().replace("_", "-").replace("/", "-")

    stem = simplify(Path(filename).stem)
    matches = [name for name in builtin_architectures() if simplify(name) in stem]
    return max(matches, key=len) if matches else None


def builtin_folder_config(architecture: str, pretrained: str) -> bytes:
    """``open_clip_config.json`` for a folder holding the weights open_clip knows as (architecture, pretrained tag):
    the architecture's built-in config and the tag's preprocessing, which is what open_clip builds them with."""
    import open_clip

    tag = open_clip.get_pretrained_cfg(architecture, pretrained)
    if not tag:
        raise VerifierConfigError(f"open_clip has no pretrained tag '{pretrained}' for '{architecture}'")
    preprocess = {key: tag[key] for key in ("mean", "std", "interpolation", "resize_mode") if key in tag}
    return json.dumps({"model_cfg": open_clip.get_model_config(architecture), "preprocess_cfg": preprocess},
                      indent=2).encode()


TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")
TEXT_CONFIG_FILE = "config.json"
WHAT_TO_PUT = {
    "tokenizer": "tokenizer files (tokenizer_config.json and tokenizer.json, or the vocabulary files it names, "
                 "with special_tokens_map.json)",
    "text-model config": "config.json",
}


def holds(folder: Path, use: str) -> bool:
    names = TOKENIZER_FILES if use == "tokenizer" else (TEXT_CONFIG_FILE,)
    return any((folder / name).is_file() for name in names)


def local_hub_copy(repo: str, uses: list[str], beside: Path) -> Path | None:
    """A folder on this machine with what open_clip reads from Hugging Face repository ``repo``: a folder named
    after the repository next to the weights, else the repository's snapshot in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    named = beside / repo
    if all(holds(named, use) for use in uses):
        return named
    cached = [try_to_load_from_cache(repo, name) for name in (*TOKENIZER_FILES, TEXT_CONFIG_FILE)]
    snapshots = {Path(path).parent for path in cached if isinstance(path, str)}
    return next((folder for folder in snapshots if all(holds(folder, use) for use in uses)), None)


def hub_sources(uses: dict[str, list[str]], beside: Path, allow_hub: bool, built: str) -> dict[str, str]:
    """Where open_clip should read each Hugging Face repository in ``uses`` (repository -> what it is read for):
    a local folder, or the repository itself when ``allow_hub``; else VerifierConfigError saying what to put where."""
    sources = {}
    for repo, needed in uses.items():
        local = local_hub_copy(repo, needed, beside)
        if local is not None:
            sources[repo] = str(local)
        elif allow_hub:
            logger.info("[Noise Search] %s: download is on, so open_clip fetches its %s from the Hugging Face "
                        "repository '%s' (licence on its model card)", built, " and ".join(needed), repo)
            sources[repo] = repo
        else:
            raise VerifierConfigError(
                f"{built} reads its {' and '.join(needed)} from the Hugging Face repository '{repo}', which is not "
                f"on this machine, and download is off. Put that repository's "
                f"{' and '.join(WHAT_TO_PUT[use] for use in needed)} in {beside / repo} (or have it in the Hugging "
                "Face cache), or turn on download to let open_clip fetch them from the Hugging Face hub."
            )
    return sources


def build_open_clip(path: Path, architecture: str, allow_hub: bool) -> tuple[Any, Any]:
    """The model and tokenizer of the open_clip weights at ``path`` (a config folder or a checkpoint file)."""
    import open_clip
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer

    if path.is_dir():
        if not (path / CONFIG_FILENAME).is_file():
            raise VerifierConfigError(f"{path} is a folder without {CONFIG_FILENAME}; open_clip cannot tell its architecture")
        model_name, pretrained, built = f"local-dir:{path}", None, f"the open_clip folder {path.name}"
        model_cfg = json.loads((path / CONFIG_FILENAME).read_text(encoding="utf-8")).get("model_cfg", {})
    else:
        if architecture == AUTO_ARCHITECTURE:
            guessed = guess_architecture(path.name)
            if guessed is None:
                raise VerifierConfigError(
                    f"cannot tell the open_clip architecture of '{path.name}' from its name; "
                    "choose it in the loader's architecture input"
                )
            architecture = guessed
        if architecture not in builtin_architectures():
            raise VerifierConfigError(f"'{architecture}' is not an open_clip architecture")
        model_name, pretrained, built = architecture, str(path), f"open_clip's {architecture}"
        model_cfg = open_clip.get_model_config(architecture)
    text_cfg = model_cfg.get("text_cfg", {})
    tokenizer_repo, text_model_repo = text_cfg.get("hf_tokenizer_name"), text_cfg.get("hf_model_name")
    own_tokenizer = path.is_dir() and holds(path, "tokenizer")  # open_clip reads a folder's own tokenizer files
    uses: dict[str, list[str]] = {}
    if tokenizer_repo and not own_tokenizer:
        uses.setdefault(tokenizer_repo, []).append("tokenizer")
    if text_model_repo:
        uses.setdefault(text_model_repo, []).append("text-model config")
    sources = hub_sources(uses, path.parent, allow_hub, built)
    overrides = {"text_cfg": {**text_cfg, "hf_model_name": sources[text_model_repo], "hf_model_pretrained": False}} \
        if text_model_repo else {}
    model = open_clip.create_model(model_name, pretrained=pretrained, require_pretrained=True, **overrides)
    if tokenizer_repo and not own_tokenizer:  # as open_clip.get_tokenizer builds an hf_tokenizer_name's tokenizer
        tokenizer = HFTokenizer(sources[tokenizer_repo], context_length=text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH),
                                tokenizer_mode=text_cfg.get("tokenizer_mode"), **text_cfg.get("tokenizer_kwargs", {}))
    else:
        tokenizer = open_clip.get_tokenizer(model_name)
    return model, tokenizer


def load_clip_score_verifier(path: Path, architecture: str = AUTO_ARCHITECTURE, allow_hub: bool = False) -> CLIPScoreVerifier:
    """Build a CLIP score verifier from a config folder or a checkpoint file, on the CPU in fp32.

    ``allow_hub``: the user turned download on, so open_clip may fetch a tokenizer or text config it names.
    """
    import open_clip

    model, tokenizer = build_open_clip(path, architecture, allow_hub)
    preprocess = open_clip.get_model_preprocess_cfg(model)
    image_size = preprocess.get("size", model.visual.image_size)
    if isinstance(image_size, (tuple, list)):
        image_size = image_size[0]
    return CLIPScoreVerifier(
        model=model.eval().requires_grad_(False),
        tokenizer=tokenizer,
        image_size=int(image_size),
        mean=preprocess.get("mean", OPENAI_MEAN),
        std=preprocess.get("std", OPENAI_STD),
    )


def load_self_supervised_verifier(
    path: Path, architecture: str = AUTO_ARCHITECTURE, probe_level: float = 0.4, allow_hub: bool = False
) -> SelfSupervisedVerifier:
    """The self-supervised verifier on the image tower of the CLIP model at ``path``."""
    clip = load_clip_score_verifier(path, architecture, allow_hub)
    return SelfSupervisedVerifier(EncoderImageFeatures(clip.module, clip.image_size, clip.mean, clip.std), probe_level)


def load_aesthetic_verifier(
    head_path: Path, clip_path: Path, architecture: str = AUTO_ARCHITECTURE, allow_hub: bool = False
) -> AestheticVerifier:
    """The LAION aesthetic predictor: its head file plus the CLIP model whose image embeddings it rates."""
    clip = load_clip_score_verifier(clip_path, architecture, allow_hub)
    return AestheticVerifier(clip.module, load_head_state(head_path), clip.image_size, clip.mean, clip.std)


def load_zero_shot_verifier(
    path: Path, architecture: str = AUTO_ARCHITECTURE, class_names: list[str] | None = None, allow_hub: bool = False
) -> CLIPZeroShotVerifier:
    """CLIP zero-shot class logits over ``class_names`` (ImageNet-1k when not given), OpenAI's templates."""
    import open_clip

    clip = load_clip_score_verifier(path, architecture, allow_hub)
    return CLIPZeroShotVerifier(
        clip.module, clip.tokenizer, clip.image_size, clip.mean, clip.std,
        class_names or imagenet_1k_classes(), open_clip.OPENAI_IMAGENET_TEMPLATES,
    )
