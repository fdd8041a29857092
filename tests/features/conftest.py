"""Fixtures of the features tests: tiny pipeline folders written on the fly."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def write_pipeline(tmp_path):
    """``write_pipeline(name, index, components)``: a diffusers folder; ``components`` maps a
    component to its config dict (scheduler configs go to ``scheduler_config.json``) or to raw text."""

    def write(name: str, index: dict, components: dict):
        root = tmp_path / name
        root.mkdir()
        (root / "model_index.json").write_text(json.dumps(index))
        for component, config in components.items():
            folder = root / component
            folder.mkdir()
            filename = "scheduler_config.json" if component.startswith("scheduler") else "config.json"
            text = config if isinstance(config, str) else json.dumps(config)
            (folder / filename).write_text(text)
        return root

    return write
