"""Validating and executing API-format workflows with ComfyUI's own validator and executor."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class MessageLog:
    """Receives what the executor would send to a browser; keeps it for inspection."""

    client_id: str | None = None
    last_node_id: str | None = None
    last_prompt_id: str | None = None
    messages: list[tuple[str, Any]] = field(default_factory=list)

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        self.messages.append((event, data))

    def queue_updated(self) -> None:
        return None

    def events(self, name: str) -> list[Any]:
        return [data for event, data in self.messages if event == name]


class WorkflowInvalid(Exception):
    """ComfyUI's prompt validation rejected the workflow."""

    def __init__(self, error: dict[str, Any], node_errors: dict[str, Any]) -> None:
        details = [
            f"node {node_id} ({info.get('class_type')}): {err.get('message')}: {err.get('details')}"
            for node_id, info in node_errors.items()
            for err in info.get("errors", [])
        ]
        super().__init__("; ".join([f"{error.get('message')}: {error.get('details')}", *details]))
        self.error = error
        self.node_errors = node_errors


class WorkflowFailed(Exception):
    """A node raised during execution (or the run was interrupted)."""

    def __init__(self, event: str, data: dict[str, Any]) -> None:
        super().__init__(
            f"{event} in node {data.get('node_id')} ({data.get('node_type')}): "
            f"{data.get('exception_type', '')}: {data.get('exception_message', '')}"
        )
        self.event = event
        self.data = data


@dataclass
class WorkflowRun:
    executor: Any
    log: MessageLog

    def outputs(self, node_id: str) -> list[Any]:
        """The values a node returned, one per output socket."""
        entry = self.executor.caches.outputs.get(node_id)
        if inspect.isawaitable(entry):  # ComfyUI 0.33's output cache is asynchronous
            entry = asyncio.run(entry)
        if entry is None:
            raise KeyError(f"node {node_id} has no cached outputs")
        outputs = entry.outputs if hasattr(entry, "outputs") else entry
        return [values[0] for values in outputs]

    def ui(self, node_id: str) -> dict[str, Any]:
        return self.executor.history_result["outputs"].get(node_id, {})


# Every cache setting the executor reads, on 0.3.75 and 0.33 (``ram_inactive`` is read unconditionally there).
NO_CACHE_LIMITS = {"lru": 0, "ram": 0, "ram_inactive": 0}


def new_executor(server: Any = None) -> Any:
    """A ComfyUI ``PromptExecutor`` with the classic cache, as ``main.py`` makes one without cache flags."""
    import execution

    return execution.PromptExecutor(server, cache_type=execution.CacheType.CLASSIC, cache_args=dict(NO_CACHE_LIMITS))


def run_workflow(prompt: dict[str, Any], executor: Any = None) -> WorkflowRun:
    """Validate then execute an API-format workflow; raises on invalid input or a failed node."""
    import execution

    prompt_id = str(uuid.uuid4())
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
    if not valid:
        raise WorkflowInvalid(error, node_errors)
    log = MessageLog()
    if executor is None:
        executor = new_executor(log)
    else:
        executor.server = log
    executor.execute(prompt, prompt_id, extra_data={"client_id": "headless"}, execute_outputs=outputs)
    if not executor.success:
        for event in ("execution_error", "execution_interrupted"):
            for data in log.events(event):
                raise WorkflowFailed(event, data)
        raise WorkflowFailed("execution failed", {})
    return WorkflowRun(executor, log)
