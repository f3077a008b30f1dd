from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lexnet.checkpoint import load_checkpoint
from lexnet.data.format import write_dataset
from lexnet.train.distributed import DistributedContext


def test_context_from_torchrun_environment() -> None:
    context = DistributedContext.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (context.rank, context.world_size, context.enabled, context.is_main) == (1, 2, True, False)
    single = DistributedContext.from_env({})
    assert (single.enabled, single.is_main) == (False, True)


@pytest.mark.slow
def test_two_cpu_processes_under_torchrun(splits, tmp_path) -> None:
    data = write_dataset(tmp_path / "data", splits)
    out = tmp_path / "ckpt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "lexnet.cli", "--no-progress", "train", "--data", str(data), "--out", str(out)]
    command += ["--recipe", "short", "--epochs", "2", "--batch-size", "16", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = load_checkpoint(out)
    assert checkpoint.training["world_size"] == 2
    assert [e["stage"] for e in checkpoint.training["log"]][:3] == ["warmup", "joint", "push"]
    assert all(s.flow_index >= 0 for s in checkpoint.prototype_sources)
    assert all(splits["train"].y[s.flow_index] == s.class_index for s in checkpoint.prototype_sources)
    assert "test_accuracy" in checkpoint.metrics
