"""Overhead of the search machinery: a search of N candidates against N plain sample + decode + score runs.

Both sides do the same model and verifier work (the same NFEs, decodes and verifier calls), so the
difference is what the search itself adds: dry-run pricing, noise bookkeeping, recipes, thumbnails,
the report and the scaling-curve image. Each configuration runs in its own process (so its peak
memory is its own), warms up once, then is timed over ``--repeats`` runs.

    python -m bench.overhead                       # writes bench/results/overhead.json
    python -m bench.overhead --model sd15 --steps 20 --size 512 --output bench/results/overhead_h100_sd15.json
                                                   # SD1.5's architecture with random weights, on a GPU
    python -m bench.overhead --model digits --candidates 16 --batch-sizes 1 16 --steps 20 --cfg 3 \
        --output bench/results/overhead_digits.json   # the trained demo digit model and its verifier
    python -m bench.overhead --model digits --sampler euler_ancestral --candidates 16 --batch-sizes 1 16 --steps 20 \
        --cfg 3 --output bench/results/overhead_digits_euler_ancestral.json   # a stochastic sampler, batched per row
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PROMPT_TEXT = "a red apple on a wooden table"


SD15_CHECKPOINT_NAME = "random_sd15_architecture.safetensors"


SOURCES = {"model": ("1", 0), "vae": ("1", 2), "positive": ("2", 0), "negative": ("3", 0), "latent": ("4", 0),
           "verifier": ("5", 0)}
"""Where the plain loop finds each input among the search workflow's node outputs."""
DIGIT_SOURCES = {**SOURCES, "vae": ("1", 1), "positive": ("2", 0), "negative": ("2", 1), "latent": ("2", 2)}
DIGIT = 7


def build_digits_workflow(candidates: int, batch_size: int, steps: int, cfg: float, seed: int, sampler: str) -> dict[str, Any]:
    """The demo model, Demo Digit and the digit-classifier verifier in place of checkpoint, prompts and CLIP."""
    return {
        "1": {"class_type": "NoiseSearchDemoModelLoader", "inputs": {}},
        "2": {"class_type": "NoiseSearchDemoDigit", "inputs": {"digit": DIGIT}},
        "5": {"class_type": "NoiseSearchDemoDigitVerifierLoader", "inputs": {"kind": "class logit", "probe_level": 0.4}},
        "6": {"class_type": "NoiseSearchRandomSearch",
              "inputs": {"num_candidates": candidates, "batch_size": batch_size, "search_steps": 0, "max_nfes": 0}},
        "7": {"class_type": "NoiseSearchSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
            "scheduler": "normal", "positive": ["2", 0], "negative": ["2", 1], "latent_image": ["2", 2],
            "denoise": 1.0, "vae": ["1", 1], "verifier": ["5", 0], "algorithm": ["6", 0], "verifier_text": str(DIGIT)}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["7", 2]}},
    }


def build_workflow(
    candidates: int, batch_size: int, steps: int, size: int, cfg: float, seed: int, checkpoint: str, sampler: str
) -> dict[str, Any]:
    from headless.tiny_models import TINY_CLIP_FOLDER

    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": PROMPT_TEXT}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "NoiseSearchCLIPScoreVerifierLoader",
              "inputs": {"weights": TINY_CLIP_FOLDER, "architecture": "auto", "download": False}},
        "6": {"class_type": "NoiseSearchRandomSearch",
              "inputs": {"num_candidates": candidates, "batch_size": batch_size, "search_steps": 0, "max_nfes": 0}},
        "7": {"class_type": "NoiseSearchSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0, "vae": ["1", 2], "verifier": ["5", 0], "algorithm": ["6", 0],
            "verifier_text": PROMPT_TEXT}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["7", 2]}},
    }


def peak_memory() -> dict[str, float]:
    import torch

    memory = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        memory["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return memory


class WorkTimer:
    """Seconds spent in the work a search schedules and a plain loop does too: KSampler's noise from each
    seed, sampler calls that run the network on real noise, VAE decodes and verifier calls. What a run
    spends beyond them is its own
    machinery (for the search: pricing dry runs, noise and recipe bookkeeping, thumbnails, report, curve,
    ComfyUI's executor; for the plain loop: building a KSampler per image)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Any, counts: Any = None) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if counts is not None and not counts(*args, **kwargs):
                return function(*args, **kwargs)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if _has_cuda():
                    import torch

                    torch.cuda.synchronize()
                self.seconds += time.perf_counter() - started
        return timed


def measure(
    mode: str, candidates: int, batch_size: int, steps: int, size: int, cfg: float, repeats: int, model_kind: str,
    sampler: str,
) -> dict[str, Any]:
    """One configuration, in this process: ``search`` through ComfyUI's executor, or the ``plain`` loop."""
    from headless import comfy_env, tiny_models, workflow_runner

    base = Path(tempfile.mkdtemp(prefix="noise-search-bench-"))
    nodes = comfy_env.import_comfyui(base, cpu=not _has_cuda())
    import folder_paths

    models = Path(folder_paths.models_dir)
    sources, text = (DIGIT_SOURCES, str(DIGIT)) if model_kind == "digits" else (SOURCES, PROMPT_TEXT)
    if model_kind == "digits":
        checkpoint = ""
    elif model_kind == "sd15":
        from bench.sd15_random import write_random_sd15_checkpoint

        checkpoint = SD15_CHECKPOINT_NAME
        write_random_sd15_checkpoint(models / "checkpoints" / checkpoint)
    else:
        checkpoint = tiny_models.TINY_CHECKPOINT_NAME
        tiny_models.write_tiny_sd15_checkpoint(models / "checkpoints" / checkpoint)
    tiny_models.write_tiny_open_clip(models / "verifiers" / tiny_models.TINY_CLIP_FOLDER)
    comfy_env.load_pack(nodes)

    def search_workflow(seed: int) -> dict[str, Any]:
        if model_kind == "digits":
            return build_digits_workflow(candidates, batch_size, steps, cfg, seed, sampler)
        return build_workflow(candidates, batch_size, steps, size, cfg, seed, checkpoint, sampler)

    executor = workflow_runner.new_executor()
    warm = workflow_runner.run_workflow(search_workflow(0), executor)
    nfes = json.loads(warm.outputs("7")[3])["nfes"]["search"]
    model, vae, positive, negative, latent, verifier = (
        warm.outputs(sources[name][0])[sources[name][1]] for name in ("model", "vae", "positive", "negative", "latent", "verifier")
    )
    latent = latent["samples"]
    import comfy.sample
    import comfy.samplers

    work = WorkTimer()  # a pricing dry run samples from all-zero noise: machinery, not work
    comfy.sample.prepare_noise = work.wrap(comfy.sample.prepare_noise)
    comfy.samplers.CFGGuider.sample = work.wrap(comfy.samplers.CFGGuider.sample, lambda guider, noise, *a, **k: bool(noise.any()))
    vae.decode = work.wrap(vae.decode)
    verifier.score = work.wrap(verifier.score)

    def plain_run(seed: int) -> None:
        import comfy.sample
        import torch

        with torch.inference_mode():  # as ComfyUI's executor runs every node
            plain_candidates(seed, comfy.sample)

    def plain_candidates(seed: int, sample_module: Any) -> None:
        import latent_preview

        for i in range(candidates):
            noise = sample_module.prepare_noise(latent, seed + i)
            callback = latent_preview.prepare_callback(model, steps)  # KSampler's progress bar and previews
            samples = sample_module.sample(model, noise, steps, cfg, sampler, "normal", positive, negative, latent,
                                          callback=callback, disable_pbar=True, seed=seed + i)
            verifier.score(vae.decode(samples), text)

    timings, cpu_timings, work_timings = [], [], []
    for repeat in range(repeats):
        seed = 1000 * (repeat + 1)
        started, cpu_started, work.seconds = time.perf_counter(), time.process_time(), 0.0
        if mode == "search":
            workflow_runner.run_workflow(search_workflow(seed), executor)
        else:
            plain_run(seed)
        if _has_cuda():
            import torch

            torch.cuda.synchronize()
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu_started)
        work_timings.append(work.seconds)
    machinery = [total - scheduled for total, scheduled in zip(timings, work_timings)]
    return {"mode": mode, "model": model_kind, "sampler": sampler, "candidates": candidates, "batch_size": batch_size, "steps": steps,
            "cfg": cfg, "image_pixels": 16 if model_kind == "digits" else size, "nfes": nfes,
            "seconds": timings, "median_seconds": statistics.median(timings),
            "cpu_seconds": cpu_timings, "median_cpu_seconds": statistics.median(cpu_timings),
            "work_seconds": work_timings, "machinery_seconds": machinery,
            "machinery_vs_work": statistics.median(m / w for m, w in zip(machinery, work_timings)), **peak_memory()}


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def run_in_child(args: argparse.Namespace, mode: str, batch_size: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.overhead", "--child", mode, "--candidates", str(args.candidates),
               "--batch-size", str(batch_size), "--steps", str(args.steps), "--size", str(args.size), "--cfg", str(args.cfg),
               "--repeats", str(args.repeats), "--model", args.model, "--sampler", args.sampler]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(output.stdout.strip().splitlines()[-1])


def compare(args: argparse.Namespace, batch_sizes: list[int]) -> dict[str, Any]:
    """The plain loop (batch 1) and the search at each batch size, each measured in its own process."""
    plain = run_in_child(args, "plain", 1)
    searches = [run_in_child(args, "search", batch_size) for batch_size in batch_sizes]
    for search in searches:
        search["overhead_vs_plain"] = search["median_seconds"] / plain["median_seconds"] - 1.0
        search["cpu_overhead_vs_plain"] = search["median_cpu_seconds"] / plain["median_cpu_seconds"] - 1.0
    return {"plain": plain, "search": searches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--batch-size", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=256, help="image width/height in pixels (latent is 1/8)")
    parser.add_argument("--cfg", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=["tiny", "sd15", "digits"], default="tiny",
                        help="tiny: the test model; sd15: SD1.5's full architecture with random weights (for a GPU); "
                        "digits: the trained demo model (16×16 px; --size is ignored)")
    parser.add_argument("--sampler", default="euler", help="the sampler_name both sides use (e.g. euler_ancestral)")
    parser.add_argument("--child", choices=["search", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS / "overhead.json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.candidates, args.batch_size, args.steps, args.size, args.cfg,
                                 args.repeats, args.model, args.sampler)))
        return
    comparison = compare(args, args.batch_sizes)
    plain, searches = comparison["plain"], comparison["search"]
    report = {
        "command": "python -m bench.overhead " + " ".join(sys.argv[1:]),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "cuda": _has_cuda()},
        **comparison,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"plain loop: {plain['median_seconds']:.2f} s for {args.candidates} images, peak RSS {plain['peak_rss_mib']:.0f} MiB")
    for search in searches:
        print(f"search batch_size {search['batch_size']}: {search['median_seconds']:.2f} s "
              f"({100 * search['overhead_vs_plain']:+.1f}% vs plain; process CPU time "
              f"{100 * search['cpu_overhead_vs_plain']:+.1f}%), machinery {100 * search['machinery_vs_work']:.1f}% of the "
              f"work it schedules (plain loop: {100 * plain['machinery_vs_work']:.1f}%), peak RSS {search['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
