"""The paper's ImageNet study in miniature, on the demo digit model: ``python -m bench.digits_study``.

For NFE budgets on a log scale, samples every digit from fixed seeds with six arms:
(a) more denoising steps only (a plain KSampler), (b) random search, (c) zero-order search, (d) search
over paths, all with the supervised verifier (the digit classifier's logit); (e) random search with the
self-supervised verifier; (f) random search at half the steps per candidate, the winner rendered at the
full count. Every search runs through the pack's nodes in ComfyUI's executor. Each sample set is
evaluated with the verifier's score and, on the separate evaluation classifier, an IS-like score, an
FID-like distance to held-out digits, precision/recall and class accuracy.

It ends with the overhead figures (``bench/overhead.py`` on the demo model): a search of 16 candidates
against 16 plain KSampler + decode + score runs of the same NFEs, at batch sizes 1, 4 and 16, with peak
memory. Writes ``bench/results/digits_study.json`` and ``digits_study.png`` (metrics against NFEs) and
``digits_study_samples.png`` (samples at the largest budget). About 12 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = (20, 40, 80, 160, 320)
"""NFEs per sample. One plain image is STEPS = 20 NFEs: CFG 1.0 runs one row per step (the paper's
class-conditional searches also run without guidance, where samples vary most)."""
STEPS, CFG, SAMPLER, SCHEDULER = 20, 1.0, "euler", "karras"
ROWS_PER_STEP = 1 if CFG == 1.0 else 2
PLAIN_IMAGE_NFES = ROWS_PER_STEP * STEPS


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    nodes: Callable[[int], dict[str, Any] | None]
    """The algorithm node's inputs for a budget (None: the budget does not fit this arm)."""
    verifier: str = "class logit"
    node_type: str = ""


def random_nodes(budget: int) -> dict[str, Any]:
    return {"num_candidates": budget // PLAIN_IMAGE_NFES, "batch_size": 16, "search_steps": 0, "max_nfes": 0}


def half_step_random_nodes(budget: int) -> dict[str, Any] | None:
    candidates = (budget - PLAIN_IMAGE_NFES) // (PLAIN_IMAGE_NFES // 2)
    if candidates < 1:
        return None
    return {"num_candidates": candidates, "batch_size": 16, "search_steps": STEPS // 2, "max_nfes": 0}


def zero_order_nodes(budget: int) -> dict[str, Any] | None:
    if budget < 2 * PLAIN_IMAGE_NFES:
        return None
    return {"num_neighbours": 4, "iterations": 256, "lambda": 0.3, "batch_size": 16, "search_steps": 0, "max_nfes": budget}


def paths_nodes(budget: int) -> dict[str, Any] | None:
    """N paths from step 10 of 20, Δf 2, Δb 4: 10 steps each to start, then M branches × 5 rounds × 4 steps."""
    paths = 1 if budget < 16 * PLAIN_IMAGE_NFES // 2 else 2
    start, per_branch = 10 * ROWS_PER_STEP, 5 * 4 * ROWS_PER_STEP
    branches = (budget - start * paths) // (per_branch * paths)
    if branches < 1:
        return None
    return {"num_paths": paths, "branches": branches, "start_step": 10, "forward_steps": 2, "backward_steps": 4,
            "batch_size": 16, "max_nfes": 0}


ARMS = (
    Arm("steps", "(a) more denoising steps", lambda budget: {"steps": budget // ROWS_PER_STEP}, node_type="KSampler"),
    Arm("random", "(b) random search", random_nodes, node_type="NoiseSearchRandomSearch"),
    Arm("zero_order", "(c) zero-order search", zero_order_nodes, node_type="NoiseSearchZeroOrderSearch"),
    Arm("paths", "(d) search over paths", paths_nodes, node_type="NoiseSearchPathsSearch"),
    Arm("random_self_supervised", "(e) random search, self-supervised verifier", random_nodes,
        verifier="self-supervised", node_type="NoiseSearchRandomSearch"),
    Arm("random_half_steps", "(f) random search, 10 steps/candidate + 20-step render", half_step_random_nodes,
        node_type="NoiseSearchRandomSearch"),
)


def workflow(arm: Arm, inputs: dict[str, Any], digit: int, seed: int, batch: int = 1) -> dict[str, Any]:
    """One sample from the search sampler, or ``batch`` samples from one KSampler call (its rows get distinct noises)."""
    nodes: dict[str, Any] = {
        "1": {"class_type": "NoiseSearchDemoModelLoader", "inputs": {}},
        "2": {"class_type": "NoiseSearchDemoDigit", "inputs": {"digit": digit}},
    }
    common = {"model": ["1", 0], "seed": seed, "cfg": CFG, "sampler_name": SAMPLER, "scheduler": SCHEDULER,
              "positive": ["2", 0], "negative": ["2", 1], "latent_image": ["2", 2], "denoise": 1.0}
    if arm.node_type == "KSampler":
        nodes["3"] = {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["2", 2], "amount": batch}}
        nodes["5"] = {"class_type": "KSampler", "inputs": {**common, "latent_image": ["3", 0], **inputs}}
        nodes["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}}
        return nodes
    nodes["3"] = {"class_type": "NoiseSearchDemoDigitVerifierLoader", "inputs": {"kind": arm.verifier, "probe_level": 0.4}}
    nodes["4"] = {"class_type": arm.node_type, "inputs": inputs}
    nodes["5"] = {"class_type": "NoiseSearchSampler", "inputs": {
        **common, "steps": STEPS, "vae": ["1", 1], "verifier": ["3", 0], "algorithm": ["4", 0], "verifier_text": str(digit)}}
    nodes["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 2]}}
    return nodes


def sample_arm(arm: Arm, inputs: dict[str, Any], digits: list[int], seeds: int, executor: Any) -> tuple[torch.Tensor, list[int]]:
    """Final latents for every (digit, seed) pair, and the NFEs each cost (counted by the search)."""
    from headless import workflow_runner

    latents, nfes = [], []
    for digit in digits:
        if arm.node_type == "KSampler":
            run = workflow_runner.run_workflow(workflow(arm, inputs, digit, 1000 * digit, batch=seeds), executor)
            latents.append(run.outputs("5")[0]["samples"])
            nfes += [ROWS_PER_STEP * inputs["steps"]] * seeds  # euler: one call per step
            continue
        for j in range(seeds):
            run = workflow_runner.run_workflow(workflow(arm, inputs, digit, 1000 * digit + j), executor)
            latents.append(run.outputs("5")[0]["samples"])
            nfes.append(json.loads(run.outputs("5")[3])["nfes"]["total"])
    return torch.cat(latents), nfes


class Evaluation:
    """The supervised verifier and the evaluation classifier with the held-out reference features."""

    def __init__(self) -> None:
        from demo_model import EVALUATOR_FILE, VERIFIER_FILE, WEIGHTS_DIR
        from demo_model.digits import load_digits_split
        from verifiers.digit_classifier import DigitClassLogitVerifier, classifier_input, load_digit_classifier

        self.verifier = DigitClassLogitVerifier(load_digit_classifier(WEIGHTS_DIR / VERIFIER_FILE))
        self.evaluator = load_digit_classifier(WEIGHTS_DIR / EVALUATOR_FILE)
        self.classifier_input = classifier_input
        train, held_out = load_digits_split(0)
        with torch.no_grad():
            self.reference = self.evaluator.features(held_out.images)
        self.train = train

    def metrics(self, images: torch.Tensor, requested: torch.Tensor) -> dict[str, float]:
        from bench.metrics import class_accuracy, frechet_distance, inception_like_score, precision_recall

        with torch.no_grad():
            pixels = self.classifier_input(images)
            features = self.evaluator.features(pixels)
            logits = self.evaluator.logits(features)
        verifier_scores = torch.cat([self.verifier.score(images[i : i + 1], str(int(d))) for i, d in enumerate(requested)])
        precision, recall = precision_recall(self.reference, features)
        return {
            "verifier_score": float(verifier_scores.mean()),
            "is_like": inception_like_score(logits),
            "fid_like": frechet_distance(self.reference, features),
            "precision": precision,
            "recall": recall,
            "accuracy": class_accuracy(logits, requested),
        }

    def real_digits(self, digits: list[int], seeds: int) -> dict[str, float]:
        """The same metrics for real training digits, as many per class as samples: the ceiling."""
        from demo_model.digits import to_rgb_unit

        rows = torch.cat([(self.train.labels == d).nonzero().flatten()[:seeds] for d in digits])
        return self.metrics(to_rgb_unit(self.train.images[rows]), self.train.labels[rows])


def run_study(digits: list[int], seeds: int, budgets: tuple[int, ...]) -> dict[str, Any]:
    from headless import comfy_env

    nodes = comfy_env.import_comfyui(Path(tempfile.mkdtemp(prefix="noise-search-study-")))
    comfy_env.load_pack(nodes)
    import comfy.utils
    import execution

    comfy.utils.PROGRESS_BAR_ENABLED = False  # thousands of sampler runs: no console bars

    executor = execution.PromptExecutor(None, cache_type=execution.CacheType.CLASSIC, cache_args={"lru": 0, "ram": 0})
    from demo_model.comfy_model import pixel_space_vae

    vae = pixel_space_vae()
    evaluation = Evaluation()
    requested = torch.tensor([d for d in digits for _ in range(seeds)])
    results: dict[str, Any] = {"real_digits": evaluation.real_digits(digits, seeds), "arms": {}}
    samples: dict[str, torch.Tensor] = {}
    for arm in ARMS:
        rows = []
        for budget in budgets:
            inputs = arm.nodes(budget)
            if inputs is None:
                continue
            started = time.perf_counter()
            latents, nfes = sample_arm(arm, inputs, digits, seeds, executor)
            images = vae.decode(latents)
            row = {"budget": budget, "mean_nfes": sum(nfes) / len(nfes), "inputs": inputs,
                   **evaluation.metrics(images, requested), "seconds": round(time.perf_counter() - started, 2)}
            rows.append(row)
            samples[arm.name] = images
            print(f"{arm.name:>24} budget {budget:4d}: " + "  ".join(
                f"{key} {row[key]:.3f}" for key in ("mean_nfes", "verifier_score", "is_like", "fid_like", "precision",
                                                    "recall", "accuracy")), flush=True)
        results["arms"][arm.name] = {"label": arm.label, "verifier": arm.verifier, "rows": rows}
    return results | {"samples": samples}


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("verifier_score", "verifier score (class logit) ↑"), ("is_like", "IS-like ↑"), ("fid_like", "FID-like ↓"),
               ("precision", "precision ↑"), ("recall", "recall (diversity) ↑"), ("accuracy", "evaluator accuracy ↑")]
    figure, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for axis, (key, title) in zip(axes.flat, metrics):
        for name, arm in results["arms"].items():
            rows = arm["rows"]
            axis.plot([r["mean_nfes"] for r in rows], [r[key] for r in rows], marker="o", label=arm["label"])
        axis.axhline(results["real_digits"][key], color="grey", linestyle=":", label="real digits")
        axis.set_xscale("log", base=2)
        axis.set_xlabel(f"NFEs per sample ({PLAIN_IMAGE_NFES} = one {STEPS}-step image)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    figure.suptitle("Inference-time scaling in miniature: demo digit model, 10 digits × seeds per point")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def save_samples(samples: dict[str, torch.Tensor], labels: dict[str, str], seeds: int, path: Path) -> None:
    """One row of images per arm (its largest budget): the first seed of every digit."""
    from PIL import Image, ImageDraw

    from headless.demo_grid import enlarged

    scale, label_width = 4, 330
    names = list(samples)
    first_seed = slice(None, None, seeds)
    width = 16 * scale * 10
    sheet = Image.new("RGB", (label_width + width, len(names) * (16 * scale + 6)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        images = samples[name][first_seed]
        y = row * (16 * scale + 6)
        draw.text((4, y + 24), labels[name], fill=(0, 0, 0))
        for column, image in enumerate(images):
            sheet.paste(enlarged(image, scale), (label_width + column * 16 * scale, y))
    sheet.save(path)


def overhead_figures(repeats: int) -> dict[str, Any]:
    """bench/overhead.py's plain loop against the search at several batch sizes, each in its own process."""
    from bench.overhead import compare

    settings = argparse.Namespace(candidates=16, steps=STEPS, size=16, cfg=CFG, repeats=repeats, model="digits")
    return compare(settings, [1, 4, 16])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="samples per digit for every arm and budget")
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--overhead-repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "digits_study.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.perf_counter()
    results = run_study(list(range(10)), args.seeds, tuple(args.budgets))
    samples = results.pop("samples")
    results["overhead"] = overhead_figures(args.overhead_repeats)
    results = {
        "command": "python -m bench.digits_study " + " ".join(sys.argv[1:]),
        "settings": {"steps": STEPS, "cfg": CFG, "sampler": SAMPLER, "scheduler": SCHEDULER, "digits": 10,
                     "seeds_per_digit": args.seeds, "plain_image_nfes": PLAIN_IMAGE_NFES},
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        **results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.output.with_suffix(".png"))
    save_samples(samples, {name: arm["label"] for name, arm in results["arms"].items()}, args.seeds,
                 args.output.with_name(args.output.stem + "_samples.png"))
    print(f"wrote {args.output} and its plots ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
