"""Makes the repository's libraries importable as ``search``, ``verifiers`` and ``headless``.

The root is appended (not prepended) so ComfyUI's top-level ``nodes`` module, which the integration
tests put first on ``sys.path``, is never shadowed by this pack's ``nodes`` package.
"""

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if REPO_ROOT not in sys.path:
    sys.path.append(REPO_ROOT)
