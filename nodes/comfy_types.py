"""The pack's own socket types, namespaced so they cannot clash with other packs."""

from comfy_api.latest import io

VerifierSocket = io.Custom("NOISESEARCH_VERIFIER")
AlgorithmSocket = io.Custom("NOISESEARCH_ALGORITHM")

CATEGORY = "sampling/noise search"
