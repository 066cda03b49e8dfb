"""Train the demo digit model and its two classifiers from a seed: ``python -m demo_model.train``.

Each learns from its own part of the fixed split (:func:`demo_model.digits.load_digit_parts`): the
verifier classifier from ``verifier_train``, the evaluation classifier from ``evaluator_train``, the
diffusion UNet from both; none sees ``reference``, where the classifiers' accuracies are measured.
Writes ``demo_model/weights/``: the diffusion UNet (EMA weights), the verifier classifier, the
evaluation classifier and ``training.json`` (settings, part sizes, losses, reference accuracies,
seconds). About 20 minutes on 2 CPU cores; the same seed and thread count give the same weights.

``--classifiers-only`` retrains the two classifiers (a minute) and keeps the UNet in ``--output``
with its record in ``training.json``: the UNet's part, ``diffusion_train``, is every digit outside
the reference, so a UNet trained on this split stays valid when the classifiers' parts change.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import EVALUATOR_FILE, UNET_FILE, VERIFIER_FILE, WEIGHTS_DIR
from .digits import NUM_CLASSES, SPLIT_SEED, DigitParts, DigitSplit, load_digit_parts

UNET_PART = "diffusion_train (every digit outside the reference)"
LABEL_DROPOUT = 0.1
EMA_DECAY = 0.999


def initialise_unet(unet: torch.nn.Module, seed: int) -> None:
    """PyTorch's default initialisation (ComfyUI's layers skip it), then the UNet's zero-initialised outputs."""
    torch.manual_seed(seed)
    for module in unet.modules():
        for base in (torch.nn.Conv2d, torch.nn.Linear, torch.nn.GroupNorm):
            if isinstance(module, base):
                base.reset_parameters(module)
    for name, module in unet.named_modules():
        if name == "out.2" or name.endswith("out_layers.3"):
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)


def shifted(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by up to one pixel in x and y, paper (1.0) filling the edge."""
    padded = F.pad(images, (1, 1, 1, 1), value=1.0)
    offsets = torch.randint(0, 3, (images.shape[0], 2), generator=generator)
    size = images.shape[-1]
    return torch.stack([padded[i, :, dy : dy + size, dx : dx + size] for i, (dy, dx) in enumerate(offsets.tolist())])


def v_target(clean: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """What a V model outputs for ``clean + sigma · noise``, in ComfyUI's V_PREDICTION convention (sigma_data 1)."""
    sigma = sigma.view(-1, 1, 1, 1)
    return (noise - sigma * clean) / (sigma**2 + 1.0).sqrt()


def train_unet(train: DigitSplit, steps: int, batch_size: int, seed: int) -> tuple[torch.nn.Module, list[float]]:
    """V-prediction on ComfyUI's discrete schedule, labels dropped to the null class for CFG.

    The EMA's decay ramps up from 0 (``(1 + step) / (10 + step)``, capped at ``EMA_DECAY``) so the
    untrained start weighs nothing in the kept weights.
    """
    from .comfy_model import NULL_CLASS, build_model

    model = build_model()
    unet, sampling = model.diffusion_model, model.model_sampling
    initialise_unet(unet, seed)
    ema = copy.deepcopy(unet).requires_grad_(False)
    unet.requires_grad_(True).train()  # ComfyUI 0.33 builds its diffusion models with gradients off
    optimizer = torch.optim.AdamW(unet.parameters(), lr=2e-3, weight_decay=0.0)
    warmup = 200
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))
    )
    generator = torch.Generator().manual_seed(seed)
    images = train.images.repeat(1, 3, 1, 1)
    sigmas = sampling.sigmas
    losses = []
    for step in range(steps):
        rows = torch.randint(0, len(images), (batch_size,), generator=generator)
        x0, labels = images[rows], train.labels[rows].clone()
        labels[torch.rand(batch_size, generator=generator) < LABEL_DROPOUT] = NULL_CLASS
        sigma = sigmas[torch.randint(0, len(sigmas), (batch_size,), generator=generator)]
        noise = torch.randn(x0.shape, generator=generator)
        noisy = x0 + noise * sigma.view(-1, 1, 1, 1)
        prediction = unet(
            sampling.calculate_input(sigma, noisy), sampling.timestep(sigma).float(),
            y=F.one_hot(labels, NUM_CLASSES + 1).float(),
        )
        loss = F.mse_loss(prediction, v_target(x0, noise, sigma))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        decay = min(EMA_DECAY, (1 + step) / (10 + step))
        with torch.no_grad():
            for kept, live in zip(ema.parameters(), unet.parameters()):
                kept.lerp_(live, 1.0 - decay)
        losses.append(loss.item())
        if step % 250 == 0 or step == steps - 1:
            print(f"unet step {step:5d}/{steps}  loss {sum(losses[-250:]) / len(losses[-250:]):.4f}", flush=True)
    return ema.eval(), losses


def train_classifier(train: DigitSplit, reference: DigitSplit, width: int, epochs: int, seed: int):
    from verifiers.digit_classifier import DigitClassifier

    torch.manual_seed(seed)
    classifier = DigitClassifier(width)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        classifier.train()
        order = torch.randperm(len(train.labels), generator=generator)
        for batch in order.split(64):
            loss = F.cross_entropy(classifier(shifted(train.images[batch], generator)), train.labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    classifier.eval()
    with torch.no_grad():
        accuracy = (classifier(reference.images).argmax(dim=1) == reference.labels).float().mean().item()
    return classifier, accuracy


def train_and_save(parts: DigitParts, output: Path, seed: int, steps: int, batch_size: int, classifier_epochs: int,
                   unet: bool = True) -> dict:
    """Train each network on its own part of the split and save it in ``output``; returns the report's figures.

    With ``unet`` False only the classifiers train, and the figures have no UNet entries."""
    from safetensors.torch import save_file

    from verifiers.digit_classifier import save_digit_classifier

    output.mkdir(parents=True, exist_ok=True)
    verifier, verifier_accuracy = train_classifier(
        parts.verifier_train, parts.reference, width=16, epochs=classifier_epochs, seed=seed + 1
    )
    save_digit_classifier(verifier, output / VERIFIER_FILE)
    evaluator, evaluator_accuracy = train_classifier(
        parts.evaluator_train, parts.reference, width=32, epochs=classifier_epochs, seed=seed + 2
    )
    save_digit_classifier(evaluator, output / EVALUATOR_FILE)
    print(f"classifiers: verifier {verifier_accuracy:.3f}, evaluator {evaluator_accuracy:.3f} reference accuracy", flush=True)
    figures = {
        "split_seed": SPLIT_SEED, "verifier_train_images": len(parts.verifier_train.labels),
        "evaluator_train_images": len(parts.evaluator_train.labels), "diffusion_train_images": len(parts.diffusion_train.labels),
        "reference_images": len(parts.reference.labels),
        "verifier_reference_accuracy": verifier_accuracy, "evaluator_reference_accuracy": evaluator_accuracy,
    }
    if not unet:
        return figures
    model, losses = train_unet(parts.diffusion_train, steps, batch_size, seed)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(output / UNET_FILE))
    return {**figures, "unet": {"final_loss_mean_last_250": sum(losses[-250:]) / len(losses[-250:]), "trained_on": UNET_PART}}


def kept_unet_record(output: Path) -> dict:
    """What ``training.json`` in ``output`` says of the UNet kept there (how it was made, its loss and time)."""
    if not (output / UNET_FILE).is_file():
        raise SystemExit(f"--classifiers-only keeps the UNet in {output}, and there is no {UNET_FILE} there")
    previous = json.loads((output / "training.json").read_text())
    kept = previous.get("unet") or {
        "command": previous["command"], "seconds": previous["seconds"], "torch": previous["torch"],
        "final_loss_mean_last_250": previous["unet_final_loss_mean_last_250"],
        "trained_on": UNET_PART,
    }
    return {"unet": kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--classifier-epochs", type=int, default=30)
    parser.add_argument("--output", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--classifiers-only", action="store_true",
                        help="retrain the two classifiers and keep the UNet already in --output")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from headless import comfy_env

    comfy_env.import_comfyui(Path(tempfile.mkdtemp(prefix="noise-search-train-")))
    started = time.perf_counter()
    kept = kept_unet_record(args.output) if args.classifiers_only else {}
    figures = train_and_save(load_digit_parts(), args.output, args.seed, args.steps, args.batch_size,
                             args.classifier_epochs, unet=not args.classifiers_only)
    command = f"python -m demo_model.train --seed {args.seed} " + (
        "--classifiers-only" if args.classifiers_only else f"--steps {args.steps} --batch-size {args.batch_size}"
    ) + f" --classifier-epochs {args.classifier_epochs}"
    seconds = round(time.perf_counter() - started, 1)
    if not args.classifiers_only:
        figures["unet"] |= {"command": command, "seconds": seconds, "torch": torch.__version__}
    report = {"command": command, **figures, **kept, "seconds": seconds, "torch": torch.__version__,
              "threads": torch.get_num_threads()}
    (args.output / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
