"""The pack in a real ComfyUI server, driven through its public HTTP API only (/object_info, /prompt, /history, /view).

This is how a front end, a script or another tool uses the pack, and it does not depend on the
executor's internals, so it holds across ComfyUI releases.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from headless.comfy_env import REPO_ROOT
from headless.comfy_server import prepare_base_directory, running_server

DEMO_WORKFLOW = REPO_ROOT / "headless" / "workflows" / "demo_digits_random_search.json"
SEARCH_NODE, BEST_SAVE = "5", "7"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for_history(url: str, prompt_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = get_json(f"{url}/history/{prompt_id}")
        if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
            return history[prompt_id]
        time.sleep(0.5)
    raise AssertionError(f"prompt {prompt_id} did not finish within {timeout} s")


def test_the_server_lists_the_pack_runs_the_demo_search_and_serves_its_gallery(tmp_path):
    base = tmp_path / "server"
    prepare_base_directory(base, {})
    workflow = json.loads(DEMO_WORKFLOW.read_text())
    workflow["4"]["inputs"].update(num_candidates=6, batch_size=3)
    with running_server(base, tmp_path / "server.log") as url:
        object_info = get_json(f"{url}/object_info")
        listed = json.loads((REPO_ROOT / "node_list.json").read_text())
        assert {node_id: object_info[node_id]["display_name"] for node_id in listed if node_id in object_info} == listed

        prompt_id = post_json(f"{url}/prompt", {"prompt": workflow, "client_id": "server-api-test"})["prompt_id"]
        entry = wait_for_history(url, prompt_id)
        assert entry["status"]["status_str"] == "success", entry["status"]

        (gallery,) = entry["outputs"][SEARCH_NODE]["noise_search"]
        scores = [candidate["score"] for candidate in gallery["candidates"]]
        assert len(scores) == 6 and scores == sorted(scores, reverse=True)
        first = gallery["candidates"][0]
        query = urllib.parse.urlencode({key: first[key] for key in ("filename", "subfolder", "type")})
        with urllib.request.urlopen(f"{url}/view?{query}", timeout=30) as response:
            assert response.read(3) == b"\xff\xd8\xff"  # a JPEG thumbnail

        (saved,) = entry["outputs"][BEST_SAVE]["images"]
        assert (base / "output" / saved["subfolder"] / saved["filename"]).is_file()
