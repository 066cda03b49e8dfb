"""Headless use of the pack: a real ComfyUI tree on the CPU, tiny models, and a workflow runner.

Shared by the README's main job (``python -m headless.demo``) and the integration tests.
"""
