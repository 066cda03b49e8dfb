"""The main job: a noise search on the embedded demo digit model, headless on the CPU.

Runs the API-format workflow ``headless/workflows/demo_digits_random_search.json`` (demo model + Demo
Digit + the digit-classifier verifier + random search + the search sampler) through ComfyUI's own
validator and executor with this pack loaded; prints the candidate table, writes the winner and a
contact sheet of every finished candidate with its seed and score. ``--algorithm`` and ``--verifier``
swap in the other algorithm nodes and the self-supervised verifier.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from . import comfy_env, workflow_runner
from .demo_grid import candidate_grid, enlarged

WORKFLOW = Path(__file__).with_name("workflows") / "demo_digits_random_search.json"
DEMO_HOME = comfy_env.REPO_ROOT / ".noise-search-demo"
VERIFIER_NODE, ALGORITHM_NODE, SEARCH_NODE, BEST_IMAGE_NODE, CANDIDATE_IMAGES_NODE = "3", "4", "5", "6", "8"


def algorithm_node(name: str, candidates: int, batch_size: int) -> dict:
    """The algorithm node for ``--algorithm``, spending about ``candidates`` images' worth of NFEs."""
    if name == "zero-order":
        inputs = {"num_neighbours": 4, "iterations": max(1, (candidates - 1) // 4), "lambda": 0.3}
        return {"class_type": "NoiseSearchZeroOrderSearch", "inputs": {**inputs, "batch_size": batch_size,
                                                                        "search_steps": 0, "max_nfes": 0}}
    if name == "paths":  # 2 paths from step 10 of 20; each branch adds a quarter image per round of 4 steps
        inputs = {"num_paths": 2, "branches": max(1, candidates // 4), "start_step": 10, "forward_steps": 2,
                  "backward_steps": 4}
        return {"class_type": "NoiseSearchPathsSearch", "inputs": {**inputs, "batch_size": batch_size, "max_nfes": 0}}
    return {"class_type": "NoiseSearchRandomSearch",
            "inputs": {"num_candidates": candidates, "batch_size": batch_size, "search_steps": 0, "max_nfes": 0}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digit", type=int, default=7, choices=range(10))
    parser.add_argument("--algorithm", choices=["random", "zero-order", "paths"], default="random")
    parser.add_argument("--verifier", choices=["class logit", "self-supervised"], default="class logit")
    parser.add_argument("--candidates", type=int, default=16, help="the search's size, in images' worth of NFEs")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--sampler", default="euler")
    parser.add_argument("--output-dir", type=Path, default=comfy_env.REPO_ROOT / "output")
    return parser.parse_args()


def demo_workflow(args: argparse.Namespace) -> dict:
    workflow = json.loads(WORKFLOW.read_text())
    workflow["2"]["inputs"]["digit"] = args.digit
    workflow[ALGORITHM_NODE] = algorithm_node(args.algorithm, args.candidates, args.batch_size)
    workflow[VERIFIER_NODE]["inputs"]["kind"] = args.verifier
    workflow[SEARCH_NODE]["inputs"].update(
        seed=args.seed, steps=args.steps, cfg=args.cfg, sampler_name=args.sampler, verifier_text=str(args.digit)
    )
    return workflow


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    logging.basicConfig(level=logging.ERROR)  # ComfyUI's import warnings (e.g. no torchaudio) are not ours to show
    nodes = comfy_env.import_comfyui(DEMO_HOME)
    comfy_env.load_pack(nodes)
    run = workflow_runner.run_workflow(demo_workflow(args))
    table, report = run.outputs(SEARCH_NODE)[2], json.loads(run.outputs(SEARCH_NODE)[3])
    ranked = sorted((c for c in report["candidates"] if c["final"]), key=lambda c: (-c["score"], c["index"]))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    best_path, grid_path = args.output_dir / "demo_best.png", args.output_dir / "demo_candidates.png"
    enlarged(run.outputs(BEST_IMAGE_NODE)[0][0]).save(best_path)
    candidate_grid(
        run.outputs(CANDIDATE_IMAGES_NODE)[0], [c["seed"] for c in ranked], [c["score"] for c in ranked]
    ).save(grid_path)
    print(f"\nNoise search on the demo digit model (CPU): digit {args.digit}, {args.verifier} verifier, "
          f"{args.algorithm} search")
    print(table)
    print(f"best image: {best_path}\ncandidates: {grid_path}  ({time.perf_counter() - started:.1f} s in all)")


if __name__ == "__main__":
    main()
