"""Fixtures of the export tests: a small synthetic data set and a briefly trained 5-class LEXNet checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

NUM_CLASSES = 5


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data set directory (train/test splits) of 5 synthetic applications."""
    from lexnet.data.format import write_dataset
    from lexnet.data.synth import SynthConfig, generate

    directory = tmp_path_factory.mktemp("data")
    splits = generate(SynthConfig(num_classes=NUM_CLASSES, train_flows=2000, test_flows=600, seed=1))
    write_dataset(directory, splits)
    return directory


def _train(model, x, y, epochs: int) -> None:  # type: ignore[no-untyped-def]
    """Plain cross-entropy on the logits: enough for confident predictions, so INT8 can agree with FP32."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 200):
            batch = order[start : start + 200]
            loss = torch.nn.functional.cross_entropy(model(x[batch]).logits, y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()


@pytest.fixture(scope="session")
def small_checkpoint(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-class LEXNet trained for a few epochs on ``small_data``, saved as a checkpoint directory."""
    import torch

    from lexnet.checkpoint import Checkpoint, save_checkpoint
    from lexnet.data.format import read_split
    from lexnet.models import create_model
    from lexnet.spec import ModelConfig, Scaling

    torch.manual_seed(0)
    train = read_split(small_data, "train")
    config = ModelConfig(num_classes=NUM_CLASSES)
    model = create_model(config)
    scaling = Scaling.fit(train.x)
    x = torch.from_numpy(scaling.apply(train.x))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _train(model, x, torch.from_numpy(train.y), epochs=4)
    finally:
        torch.set_num_threads(threads)
    checkpoint = Checkpoint(config, train.classes, scaling, model.state_dict(), training={"data": str(small_data)})
    return save_checkpoint(checkpoint, tmp_path_factory.mktemp("ckpt") / "lexnet-small")


@pytest.fixture(scope="session")
def held_out(small_data: Path) -> np.ndarray:
    from lexnet.data.format import read_split

    return read_split(small_data, "test").x[:400].astype(np.int16)
