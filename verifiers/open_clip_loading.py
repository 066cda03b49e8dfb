"""Finding and loading open_clip weights from local files.

Two layouts are recognised in a models folder:
- a folder holding ``open_clip_config.json`` and its weights (the layout of open_clip's hub
  repositories; any architecture, including ones open_clip does not ship a config for);
- a single checkpoint file (``.safetensors``, ``.bin``, ``.pt``, ``.pth``) of one of open_clip's
  built-in architectures, named in the loader or guessed from the file name.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Iterable

from .aesthetic import AestheticVerifier, load_head_state
from .clip_score import CLIPScoreVerifier
from .self_supervised import SelfSupervisedVerifier
from .zero_shot import CLIPZeroShotVerifier, imagenet_1k_classes
from .errors import VerifierConfigError

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


def load_clip_score_verifier(path: Path, architecture: str = AUTO_ARCHITECTURE) -> CLIPScoreVerifier:
    """Build a CLIP score verifier from a config folder or a checkpoint file, on the CPU in fp32."""
    import open_clip

    if path.is_dir():
        if not (path / CONFIG_FILENAME).is_file():
            raise VerifierConfigError(f"{path} is a folder without {CONFIG_FILENAME}; open_clip cannot tell its architecture")
        model_name = f"local-dir:{path}"
        model = open_clip.create_model(model_name, require_pretrained=True)
        tokenizer = open_clip.get_tokenizer(model_name)
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
        model = open_clip.create_model(architecture, pretrained=str(path), require_pretrained=True)
        tokenizer = open_clip.get_tokenizer(architecture)
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
    path: Path, architecture: str = AUTO_ARCHITECTURE, probe_level: float = 0.4
) -> SelfSupervisedVerifier:
    """The self-supervised verifier on the image tower of the CLIP model at ``path``."""
    clip = load_clip_score_verifier(path, architecture)
    return SelfSupervisedVerifier(clip.module, clip.image_size, clip.mean, clip.std, probe_level)


def load_aesthetic_verifier(head_path: Path, clip_path: Path, architecture: str = AUTO_ARCHITECTURE) -> AestheticVerifier:
    """The LAION aesthetic predictor: its head file plus the CLIP model whose image embeddings it rates."""
    clip = load_clip_score_verifier(clip_path, architecture)
    return AestheticVerifier(clip.module, load_head_state(head_path), clip.image_size, clip.mean, clip.std)


def load_zero_shot_verifier(
    path: Path, architecture: str = AUTO_ARCHITECTURE, class_names: list[str] | None = None
) -> CLIPZeroShotVerifier:
    """CLIP zero-shot class logits over ``class_names`` (ImageNet-1k when not given), OpenAI's templates."""
    import open_clip

    clip = load_clip_score_verifier(path, architecture)
    return CLIPZeroShotVerifier(
        clip.module, clip.tokenizer, clip.image_size, clip.mean, clip.std,
        class_names or imagenet_1k_classes(), open_clip.OPENAI_IMAGENET_TEMPLATES,
    )
