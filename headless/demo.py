"""The main job: a noise search on the embedded tiny default model, headless on the CPU.

Runs the API-format workflow ``headless/workflows/random_search_clip_score.json`` through ComfyUI's own
validator and executor with this pack loaded, prints the candidate table and writes the best image.

The default model is a tiny random-weight SD1.5-shaped checkpoint and a tiny random-weight CLIP,
built deterministically on first use: it shows the machinery working end to end, not pretty images.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

from . import comfy_env, tiny_models, workflow_runner

WORKFLOW = Path(__file__).with_name("workflows") / "random_search_clip_score.json"
DEMO_HOME = comfy_env.REPO_ROOT / ".noise-search-demo"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="a red apple on a wooden table")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--sampler", default="euler")
    parser.add_argument("--output", type=Path, default=comfy_env.REPO_ROOT / "output" / "demo_best.png")
    return parser.parse_args()


def prepare_models(models_dir: Path) -> None:
    checkpoint = models_dir / "checkpoints" / tiny_models.TINY_CHECKPOINT_NAME
    if not checkpoint.is_file():
        tiny_models.write_tiny_sd15_checkpoint(checkpoint)
    clip_folder = models_dir / "verifiers" / tiny_models.TINY_CLIP_FOLDER
    if not (clip_folder / "open_clip_config.json").is_file():
        tiny_models.write_tiny_open_clip(clip_folder)


def demo_workflow(args: argparse.Namespace) -> dict:
    workflow = json.loads(WORKFLOW.read_text())
    workflow["2"]["inputs"]["text"] = args.prompt
    workflow["6"]["inputs"].update(num_candidates=args.candidates, batch_size=args.batch_size)
    workflow["7"]["inputs"].update(seed=args.seed, steps=args.steps, sampler_name=args.sampler, verifier_text=args.prompt)
    return workflow


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    logging.basicConfig(level=logging.ERROR)  # ComfyUI's import warnings (e.g. no torchaudio) are not ours to show
    nodes = comfy_env.import_comfyui(DEMO_HOME)
    import folder_paths

    tiny_models.register_tiny_models()
    prepare_models(Path(folder_paths.models_dir))
    comfy_env.load_pack(nodes)
    run = workflow_runner.run_workflow(demo_workflow(args))
    table = run.outputs("7")[2]
    saved = run.ui("9")["images"][0]
    image_path = Path(folder_paths.get_output_directory()) / saved["subfolder"] / saved["filename"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(image_path, args.output)
    print("\nNoise search on the tiny random-weight default model (CPU), CLIP score verifier:")
    print(table)
    print(f"best image: {args.output}  ({time.perf_counter() - started:.1f} s in all)")


if __name__ == "__main__":
    main()
