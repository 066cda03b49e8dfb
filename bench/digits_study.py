"""The paper's ImageNet study in miniature, on the demo digit model: ``python -m bench.digits_study``.

For NFE budgets on a log scale, samples every digit with ten arms: (a) more denoising steps only (a
plain KSampler), (b) random search, (c) zero-order search, (d) search over paths, all with the
supervised verifier (the digit classifier's logit); (e) random search with the self-supervised
verifier; (f) random search at half the steps per candidate, the winner rendered at the full count;
(g–i) FK steering with each potential (max, difference, sum); (j) random search pruned at 25% and
50% of the steps. (b) to (d) and (f) to (j) use the supervised verifier.
Every search runs through the pack's nodes in ComfyUI's executor.

Seeds. Sample ``j`` of digit ``d`` in seed set ``k`` starts from seed ``derive_seed(STUDY_SEED, k, d, j)``
(:func:`search.seeds.derive_seed`, splitmix64) in every arm: that is the KSampler's seed in (a) and the
search node's seed in the others, so every arm's first noise for a sample is the same (at 20 NFEs,
arm (a) and random search's one candidate are the same image). Each algorithm derives the rest of a
sample's candidates from that seed (random search: ``seed + i``; zero-order and paths: splitmix
keys), so arms (b), (e) and (f) search the same noises (paired comparisons), and no seed is shared
between two samples: the study checks it on every search's report and stops if one is.

Evaluation, per seed set: the verifier's score of the final images and, on the evaluation classifier
(trained on digits the verifier never saw, see :mod:`demo_model.digits`), an IS-like score, an
FID-like distance, precision/recall and class accuracy, against the held-out reference digits. The
"real digits" row draws as many reference digits per class as there are samples; that seed set's
reference statistics leave those digits out, for every row. Rows give the mean and the spread
(sample standard deviation, min and max) across seed sets, with NFEs, images scored by the verifier,
verifier calls and wall-clock seconds per sample.

It ends with the overhead figures (``bench/overhead.py`` on the demo model; ``--overhead-repeats 0``
skips them). Writes ``bench/results/digits_study.json``, ``digits_study.png`` (metrics against NFEs,
error bars: ± one standard deviation across seed sets) and ``digits_study_samples.png`` (samples at the
largest budget). ``--checkpoint STEM`` keeps every finished row, so an interrupted run resumes there.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from search.seeds import derive_seed

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = (20, 40, 80, 160, 320, 640)
"""NFEs per sample. One plain image is STEPS = 20 NFEs: CFG 1.0 runs one row per step (the paper's
class-conditional searches also run without guidance, where samples vary most)."""
STEPS, CFG, SAMPLER, SCHEDULER = 20, 1.0, "euler", "karras"
ROWS_PER_STEP = 1 if CFG == 1.0 else 2
PLAIN_IMAGE_NFES = ROWS_PER_STEP * STEPS
STUDY_SEED = 2501_09732
"""The root every sample's seed is derived from."""
REAL_DIGITS_KEY = 1 << 20
"""The key, beside the seed set, of that set's draw of real reference digits."""
METRICS = ("verifier_score", "is_like", "fid_like", "precision", "recall", "accuracy")


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


FK_LAMBDA = 1.0
"""λ for FK steering's arms, chosen before the run: the class logit's spread between samples is a few units, so
λ = 1 makes a one-logit lead worth e:1 in the weights (the node's default of 10 suits rewards of spread ~0.3)."""
FK_PARTICLE_NFES = PLAIN_IMAGE_NFES + 4 * ROWS_PER_STEP
"""One particle with euler (an ODE sampler): the 20 steps plus one re-noised step after each of the resampling
steps 4, 8, 12 and 16."""


def fk_nodes(potential: str) -> Callable[[int], dict[str, Any] | None]:
    def nodes(budget: int) -> dict[str, Any] | None:
        if budget < 2 * FK_PARTICLE_NFES:
            return None
        return {"num_particles": budget // FK_PARTICLE_NFES, "potential": potential, "lambda": FK_LAMBDA, "start_step": 4,
                "interval": 4, "ess_threshold": 0.5, "renoise_steps": 1, "batch_size": 32, "max_nfes": budget}
    return nodes


def pruned_nodes(budget: int) -> dict[str, Any]:
    """Checkpoints at 25% and 50% of the steps, keeping half each time: about 10 NFEs per candidate on average."""
    return {"num_candidates": max(1, budget // (PLAIN_IMAGE_NFES // 2)), "checkpoints": "0.25, 0.5", "keep_fraction": 0.5,
            "batch_size": 16, "search_steps": 0, "max_nfes": budget}


ARMS = (
    Arm("steps", "(a) more denoising steps", lambda budget: {"steps": budget // ROWS_PER_STEP}, node_type="KSampler"),
    Arm("random", "(b) random search", random_nodes, node_type="NoiseSearchRandomSearch"),
    Arm("zero_order", "(c) zero-order search", zero_order_nodes, node_type="NoiseSearchZeroOrderSearch"),
    Arm("paths", "(d) search over paths", paths_nodes, node_type="NoiseSearchPathsSearch"),
    Arm("random_self_supervised", "(e) random search, self-supervised verifier", random_nodes,
        verifier="self-supervised", node_type="NoiseSearchRandomSearch"),
    Arm("random_half_steps", "(f) random search, 10 steps/candidate + 20-step render", half_step_random_nodes,
        node_type="NoiseSearchRandomSearch"),
    *(Arm(f"fk_{potential}", f"({letter}) FK steering, {potential} potential, λ {FK_LAMBDA:g}", fk_nodes(potential),
          node_type="NoiseSearchFKSteering") for letter, potential in zip("ghi", ("max", "difference", "sum"))),
    Arm("pruned", "(j) pruned random search (x0 scored at 25% and 50%, half kept)", pruned_nodes,
        node_type="NoiseSearchPrunedRandomSearch"),
)


@dataclass(frozen=True)
class SamplePlan:
    """One sample of the study: its seed set, digit, index within the digit, and the seed every arm starts from."""

    seed_set: int
    digit: int
    index: int

    @property
    def seed(self) -> int:
        return derive_seed(STUDY_SEED, self.seed_set, self.digit, self.index)


def study_plan(seed_sets: int, digits: list[int], samples: int) -> list[SamplePlan]:
    return [SamplePlan(k, d, j) for k in range(seed_sets) for d in digits for j in range(samples)]


@dataclass(frozen=True)
class Sample:
    """What one arm made for one planned sample."""

    plan: SamplePlan
    latent: torch.Tensor
    nfes: int
    verifier_images: int
    """Images the verifier scored during the search (0 for a plain KSampler)."""
    verifier_calls: int
    """Batches the verifier scored (one per sampler call that finished candidates or branches)."""
    seconds: float
    """Wall-clock seconds of its workflow run (ComfyUI's executor included)."""
    cpu_seconds: float
    """This process's CPU time over that run (all threads): steadier than wall-clock on a shared machine."""
    seeds: frozenset[int]
    """Every seed any of its candidates was made from (noise, neighbour, re-noise and sampler seeds)."""
    own_draws: tuple[int, ...]
    """Each candidate's own fresh draw: the seed of the last noise it received (noise, neighbour or re-noise); a record
    that continues its parent with no new draw (pruning's later stages) adds none."""
    first_seed: int
    """The seed of the first candidate's initial noise."""
    first_score: float | None
    """The verifier score of the search's first candidate (None for a plain KSampler)."""


def recipe_seeds(recipe: list[dict[str, Any]]) -> set[int]:
    return {op["seed"] for op in recipe if "seed" in op} | {op["sampler_seed"] for op in recipe if "sampler_seed" in op}


def own_draw(recipe: list[dict[str, Any]]) -> int:
    return [op["seed"] for op in recipe if op["op"] in ("noise", "neighbour", "renoise")][-1]


def workflow(arm: Arm, inputs: dict[str, Any], digit: int, seed: int) -> dict[str, Any]:
    """One sample: a plain KSampler run, or a search through the search sampler."""
    nodes: dict[str, Any] = {
        "1": {"class_type": "NoiseSearchDemoModelLoader", "inputs": {}},
        "2": {"class_type": "NoiseSearchDemoDigit", "inputs": {"digit": digit}},
    }
    common = {"model": ["1", 0], "seed": seed, "cfg": CFG, "sampler_name": SAMPLER, "scheduler": SCHEDULER,
              "positive": ["2", 0], "negative": ["2", 1], "latent_image": ["2", 2], "denoise": 1.0}
    if arm.node_type == "KSampler":
        nodes["5"] = {"class_type": "KSampler", "inputs": {**common, **inputs}}
        nodes["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}}
        return nodes
    nodes["3"] = {"class_type": "NoiseSearchDemoDigitVerifierLoader", "inputs": {"kind": arm.verifier, "probe_level": 0.4}}
    nodes["4"] = {"class_type": arm.node_type, "inputs": inputs}
    nodes["5"] = {"class_type": "NoiseSearchSampler", "inputs": {
        **common, "steps": STEPS, "vae": ["1", 1], "verifier": ["3", 0], "algorithm": ["4", 0], "verifier_text": str(digit)}}
    nodes["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 2]}}
    return nodes


def sample_arm(arm: Arm, inputs: dict[str, Any], plan: list[SamplePlan], executor: Any) -> list[Sample]:
    """Every planned sample of one arm at one budget, each from its own workflow run."""
    from headless import workflow_runner

    made = []
    for planned in plan:
        started, cpu_started = time.perf_counter(), time.process_time()
        run = workflow_runner.run_workflow(workflow(arm, inputs, planned.digit, planned.seed), executor)
        seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
        latent = run.outputs("5")[0]["samples"]
        if arm.node_type == "KSampler":  # euler: one model call per step
            made.append(Sample(planned, latent, ROWS_PER_STEP * inputs["steps"], 0, 0, *seconds,
                               frozenset({planned.seed}), (planned.seed,), planned.seed, None))
        else:
            made.append(searched_sample(planned, latent, json.loads(run.outputs("5")[3]), seconds))
    return made


def searched_sample(planned: SamplePlan, latent: torch.Tensor, report: dict[str, Any], seconds: tuple[float, float]) -> Sample:
    """A search's sample, its costs and its seeds, read off the search's report; ``seconds``: (wall-clock, CPU)."""
    recipes = [candidate["recipe"] for candidate in report["candidates"]]
    draws = [own_draw(recipe) for recipe in recipes]
    fresh = tuple(draw for draw, candidate in zip(draws, report["candidates"])
                  if candidate["parent"] is None or draws[candidate["parent"]] != draw)
    return Sample(
        planned, latent, report["nfes"]["total"], len(recipes), len(report["curve"]), *seconds,
        frozenset(set().union(*map(recipe_seeds, recipes), recipe_seeds(report["best_recipe"]))),
        fresh, report["candidates"][0]["seed"], report["candidates"][0]["score"],
    )


def shared_seeds(samples: list[Sample]) -> dict[str, set[int]]:
    """Seeds two samples share, and candidates' own draws that repeat anywhere in the arm (both should be empty)."""
    owner: dict[int, SamplePlan] = {}
    between_samples = set()
    for sample in samples:
        for seed in sample.seeds:
            if owner.setdefault(seed, sample.plan) != sample.plan:
                between_samples.add(seed)
    draws = Counter(draw for sample in samples for draw in sample.own_draws)
    return {"between_samples": between_samples, "repeated_draws": {draw for draw, count in draws.items() if count > 1}}


def spread(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (n - 1; 0 for one value), min and max of one metric across seed sets."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "per_set": values}


class Evaluation:
    """The supervised verifier, the evaluation classifier and, per seed set, the real digits and the reference."""

    def __init__(self, digits: list[int], samples: int, seed_sets: int) -> None:
        from demo_model import EVALUATOR_FILE, VERIFIER_FILE, WEIGHTS_DIR
        from demo_model.digits import load_digit_parts, to_rgb_unit
        from verifiers.digit_classifier import DigitClassLogitVerifier, classifier_input, load_digit_classifier

        self.verifier = DigitClassLogitVerifier(load_digit_classifier(WEIGHTS_DIR / VERIFIER_FILE))
        self.evaluator = load_digit_classifier(WEIGHTS_DIR / EVALUATOR_FILE)
        self.classifier_input = classifier_input
        reference = load_digit_parts().reference
        self.real_images: list[torch.Tensor] = []
        self.real_labels: list[torch.Tensor] = []
        self.reference_features: list[torch.Tensor] = []
        for seed_set in range(seed_sets):
            order = torch.randperm(len(reference.labels), generator=torch.Generator().manual_seed(
                derive_seed(STUDY_SEED, seed_set, REAL_DIGITS_KEY)))
            drawn = torch.cat([order[reference.labels[order] == d][:samples] for d in digits])
            kept = torch.ones(len(reference.labels), dtype=torch.bool)
            kept[drawn] = False
            self.real_images.append(to_rgb_unit(reference.images[drawn]))
            self.real_labels.append(reference.labels[drawn])
            with torch.no_grad():
                self.reference_features.append(self.evaluator.features(reference.images[kept]))

    def metrics(self, images: torch.Tensor, requested: torch.Tensor, seed_set: int) -> dict[str, float]:
        from bench.metrics import class_accuracy, frechet_distance, inception_like_score, precision_recall

        with torch.no_grad():
            features = self.evaluator.features(self.classifier_input(images))
            logits = self.evaluator.logits(features)
        verifier_scores = torch.cat([self.verifier.score(images[i : i + 1], str(int(d))) for i, d in enumerate(requested)])
        reference = self.reference_features[seed_set]
        precision, recall = precision_recall(reference, features)
        return {
            "verifier_score": float(verifier_scores.mean()),
            "is_like": inception_like_score(logits),
            "fid_like": frechet_distance(reference, features),
            "precision": precision,
            "recall": recall,
            "accuracy": class_accuracy(logits, requested),
        }

    def real_digits(self, seed_set: int) -> dict[str, float]:
        """The same metrics for held-out reference digits, as many per class as samples: the ceiling."""
        return self.metrics(self.real_images[seed_set], self.real_labels[seed_set], seed_set)


def start_comfyui() -> Any:
    """A ComfyUI on the CPU with this pack loaded, and an executor that caches nothing between runs."""
    from headless import comfy_env, workflow_runner

    nodes = comfy_env.import_comfyui(Path(tempfile.mkdtemp(prefix="noise-search-study-")))
    comfy_env.load_pack(nodes)
    import comfy.utils

    comfy.utils.PROGRESS_BAR_ENABLED = False  # thousands of sampler runs: no console bars
    return workflow_runner.new_executor()


@dataclass
class StudyRun:
    results: dict[str, Any]
    """What goes into the JSON."""
    samples: dict[tuple[str, int], list[Sample]]
    """Every arm's samples at every budget it ran, keyed by (arm, budget)."""
    images: dict[str, torch.Tensor]
    """Every arm's decoded images at its largest budget, in plan order."""


def run_row(arm: Arm, budget: int, plan: list[SamplePlan], executor: Any, vae: Any, evaluation: Evaluation,
            seed_sets: int) -> tuple[dict[str, Any], list[Sample], torch.Tensor]:
    """One arm at one budget: its samples, checked for shared seeds, decoded and evaluated per seed set."""
    inputs = arm.nodes(budget)
    started = time.perf_counter()
    arm_samples = sample_arm(arm, inputs, plan, executor)
    shared = shared_seeds(arm_samples)
    if any(shared.values()):
        raise RuntimeError(f"{arm.name} at {budget} NFEs: samples share seeds {shared}")
    decoded = vae.decode(torch.cat([s.latent for s in arm_samples]))
    per_set = []
    for k in range(seed_sets):
        rows_of_set = [i for i, s in enumerate(arm_samples) if s.plan.seed_set == k]
        requested = torch.tensor([arm_samples[i].plan.digit for i in rows_of_set])
        per_set.append(evaluation.metrics(decoded[rows_of_set], requested, k))
    count = len(arm_samples)
    row = {
        "budget": budget, "inputs": inputs,
        "mean_nfes": sum(s.nfes for s in arm_samples) / count,
        "verifier_images_per_sample": sum(s.verifier_images for s in arm_samples) / count,
        "verifier_calls_per_sample": sum(s.verifier_calls for s in arm_samples) / count,
        "seconds_per_sample": sum(s.seconds for s in arm_samples) / count,
        "cpu_seconds_per_sample": sum(s.cpu_seconds for s in arm_samples) / count,
        "distinct_seeds": len(set().union(*(s.seeds for s in arm_samples))),
        "metrics": {key: spread([m[key] for m in per_set]) for key in METRICS},
        "seconds": round(time.perf_counter() - started, 2),
    }
    metrics = "  ".join(f"{key} {row['metrics'][key]['mean']:.3f}±{row['metrics'][key]['std']:.3f}" for key in METRICS)
    print(f"{arm.name:>24} budget {budget:4d}: NFEs {row['mean_nfes']:.0f}  verifier images "
          f"{row['verifier_images_per_sample']:.1f}  s/sample {row['seconds_per_sample']:.3f}  "
          f"CPU s/sample {row['cpu_seconds_per_sample']:.3f}  {metrics}", flush=True)
    return row, arm_samples, decoded


def run_study(
    digits: list[int], samples: int, seed_sets: int, budgets: tuple[int, ...], executor: Any, arms: tuple[Arm, ...] = ARMS,
    checkpoint: Path | None = None,
) -> StudyRun:
    """Every arm at every budget it fits. With ``checkpoint`` (a path stem), each finished row is saved there
    (``.json`` rows, ``.pt`` images) and rows already saved are read back instead of run again."""
    from demo_model.comfy_model import pixel_space_vae

    plan_key = f"{seed_sets} seed sets x {samples} samples of digits {digits}"
    saved_rows: dict[str, Any] = {"plan": plan_key}
    images: dict[str, torch.Tensor] = {}
    if checkpoint and checkpoint.with_suffix(".json").is_file():
        saved_rows = json.loads(checkpoint.with_suffix(".json").read_text())
        if saved_rows["plan"] != plan_key:
            raise ValueError(f"{checkpoint} holds rows of {saved_rows['plan']}, not {plan_key}: use another --checkpoint")
        images = torch.load(checkpoint.with_suffix(".pt"))
        print(f"resuming: {len(saved_rows) - 1} rows read from {checkpoint.with_suffix('.json')}", flush=True)
    vae = pixel_space_vae()
    evaluation = Evaluation(digits, samples, seed_sets)
    plan = study_plan(seed_sets, digits, samples)
    real = [evaluation.real_digits(k) for k in range(seed_sets)]
    results: dict[str, Any] = {"real_digits": {key: spread([r[key] for r in real]) for key in METRICS}, "arms": {}}
    made: dict[tuple[str, int], list[Sample]] = {}
    for arm in arms:
        rows = []
        for budget in budgets:
            if arm.nodes(budget) is None:
                continue
            key = f"{arm.name}/{budget}"
            if key not in saved_rows:
                saved_rows[key], made[(arm.name, budget)], images[arm.name] = run_row(
                    arm, budget, plan, executor, vae, evaluation, seed_sets)
                if checkpoint:
                    torch.save(images, checkpoint.with_suffix(".pt"))
                    checkpoint.with_suffix(".json").write_text(json.dumps(saved_rows))
            rows.append(saved_rows[key])
        results["arms"][arm.name] = {"label": arm.label, "verifier": arm.verifier, "rows": rows}
    images["real_digits"] = torch.cat(evaluation.real_images)
    return StudyRun(results, made, images)


PLOTTED = [("verifier_score", "verifier score (class logit) ↑"), ("is_like", "IS-like ↑"), ("fid_like", "FID-like ↓"),
           ("precision", "precision ↑"), ("recall", "recall (diversity) ↑"), ("accuracy", "evaluator accuracy ↑")]
COSTS = [("verifier_images_per_sample", "images scored by the verifier per sample"),
         ("seconds_per_sample", "wall-clock seconds per sample (2 shared CPU cores)"),
         ("cpu_seconds_per_sample", "CPU seconds per sample (both threads)")]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seed_sets = results["settings"]["seed_sets"]
    figure, axes = plt.subplots(3, 3, figsize=(16, 13))
    for axis, (key, title) in zip(axes.flat, PLOTTED):
        for arm in results["arms"].values():
            rows = arm["rows"]
            axis.errorbar([r["mean_nfes"] for r in rows], [r["metrics"][key]["mean"] for r in rows],
                          yerr=[r["metrics"][key]["std"] for r in rows], marker="o", capsize=3, label=arm["label"])
        real = results["real_digits"][key]
        axis.axhline(real["mean"], color="grey", linestyle=":", label="real digits (held-out reference)")
        axis.axhspan(real["mean"] - real["std"], real["mean"] + real["std"], color="grey", alpha=0.12)
        axis.set_title(title)
    for axis, (key, title) in zip(axes.flat[len(PLOTTED):], COSTS):
        for arm in results["arms"].values():
            rows = [r for r in arm["rows"] if r[key] > 0]  # a plain KSampler scores nothing
            axis.plot([r["mean_nfes"] for r in rows], [r[key] for r in rows], marker="o", label=arm["label"])
        axis.set_yscale("log")
        axis.set_title(title)
    for axis in axes.flat[: len(PLOTTED) + len(COSTS)]:
        axis.set_xscale("log", base=2)
        axis.set_xlabel(f"NFEs per sample ({PLAIN_IMAGE_NFES} = one {STEPS}-step image)")
        axis.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    figure.suptitle(f"Inference-time scaling in miniature: demo digit model, {results['settings']['samples_per_digit']} "
                    f"samples per digit × {seed_sets} seed sets; error bars: ± one standard deviation across seed sets")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def save_samples(images: dict[str, torch.Tensor], labels: dict[str, str], samples: int, digits: int, path: Path) -> None:
    """One row of images per arm (its largest budget) and the real digits: the first sample of every digit in seed set 0."""
    from PIL import Image, ImageDraw

    from headless.demo_grid import enlarged

    scale, label_width = 4, 330
    names = list(images)
    width = 16 * scale * digits
    sheet = Image.new("RGB", (label_width + width, len(names) * (16 * scale + 6)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        first_samples = images[name][: samples * digits : samples]
        y = row * (16 * scale + 6)
        draw.text((4, y + 24), labels.get(name, "real digits (held-out reference)"), fill=(0, 0, 0))
        for column, image in enumerate(first_samples):
            sheet.paste(enlarged(image, scale), (label_width + column * 16 * scale, y))
    sheet.save(path)


def overhead_figures(repeats: int) -> dict[str, Any]:
    """bench/overhead.py's plain loop against the search at several batch sizes, each in its own process."""
    from bench.overhead import compare

    settings = argparse.Namespace(candidates=16, steps=STEPS, size=16, cfg=CFG, repeats=repeats, model="digits")
    return compare(settings, [1, 4, 16])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-sets", type=int, default=3, help="independent seed sets (the spread is taken across them)")
    parser.add_argument("--samples", type=int, default=5, help="samples per digit in each seed set, for every arm and budget")
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--overhead-repeats", type=int, default=3, help="0 skips the overhead figures")
    parser.add_argument("--output", type=Path, default=RESULTS / "digits_study.json")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 wastes less on a machine shared with other work)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="path stem where finished rows are kept; a run with the same settings resumes from it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    executor = start_comfyui()
    run = run_study(list(range(10)), args.samples, args.seed_sets, tuple(args.budgets), executor, checkpoint=args.checkpoint)
    results = {
        "command": "python -m bench.digits_study " + " ".join(sys.argv[1:]),
        "settings": {"steps": STEPS, "cfg": CFG, "sampler": SAMPLER, "scheduler": SCHEDULER, "digits": 10,
                     "seed_sets": args.seed_sets, "samples_per_digit": args.samples, "plain_image_nfes": PLAIN_IMAGE_NFES,
                     "sample_seed": f"derive_seed({STUDY_SEED}, seed_set, digit, sample)",
                     "spread": "std: sample standard deviation (n - 1) across seed sets; min, max, per_set beside it"},
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        **run.results,
    }
    if args.overhead_repeats:
        results["overhead"] = overhead_figures(args.overhead_repeats)
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.output.with_suffix(".png"))
    save_samples(run.images, {name: arm["label"] for name, arm in results["arms"].items()}, args.samples, 10,
                 args.output.with_name(args.output.stem + "_samples.png"))
    print(f"wrote {args.output} and its plots ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
