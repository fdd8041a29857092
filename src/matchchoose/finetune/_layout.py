"""Run-folder layout shared by training, loading and the CLI (no torch needed)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ADAPTER_FORMAT", "latest_checkpoint", "checkpoints"]

#: ``format`` of adapter_config.json and run.json.
ADAPTER_FORMAT = "matchchoose-adapter/1"


def checkpoints(out_dir) -> list:
    """``[(step, folder)]`` of the complete checkpoints of a run folder, oldest first."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(p.name[5:]), p) for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")
             and p.name[5:].isdigit() and (p / "trainer_state.json").is_file()]
    return sorted(found)


def latest_checkpoint(out_dir) -> Path | None:
    """The complete checkpoint with the highest step under ``out_dir/checkpoints``, or ``None``."""
    found = checkpoints(out_dir)
    return found[-1][1] if found else None
