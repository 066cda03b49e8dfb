"""The main job: a noise search on the embedded demo digit model, headless on the CPU.

Runs the API-format workflow ``headless/workflows/demo_digits_random_search.json`` (demo model + Demo
Digit + the digit-classifier verifier + random search + the search sampler) through ComfyUI's own
validator and executor with this pack loaded; prints the candidate table, writes the winner and a
contact sheet of every candidate with its seed and score.
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
SEARCH_NODE, BEST_IMAGE_NODE, CANDIDATE_IMAGES_NODE = "5", "6", "8"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digit", type=int, default=7, choices=range(10))
    parser.add_argument("--candidates", type=int, default=16)
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
    workflow["4"]["inputs"].update(num_candidates=args.candidates, batch_size=args.batch_size)
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
    print(f"\nNoise search on the demo digit model (CPU): digit {args.digit}, digit-classifier verifier, random search")
    print(table)
    print(f"best image: {best_path}\ncandidates: {grid_path}  ({time.perf_counter() - started:.1f} s in all)")


if __name__ == "__main__":
    main()
