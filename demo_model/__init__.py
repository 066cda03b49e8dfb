"""The embedded demo model: a small class-conditional pixel-space diffusion model of handwritten digits.

Trained by ``python -m demo_model.train`` on scikit-learn's bundled digits (8×8, upscaled to 16×16),
defined with ComfyUI's own model classes so every ComfyUI sampler and scheduler runs it, and decoded by
ComfyUI's ``pixel_space`` VAE. Two digit classifiers come with it: one is the supervised verifier, the
other only evaluates (the paper's Inception role). The weights live in ``demo_model/weights``.
"""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).with_name("weights")
UNET_FILE = "digits_unet.safetensors"
VERIFIER_FILE = "digit_verifier.safetensors"
EVALUATOR_FILE = "digit_evaluator.safetensors"
