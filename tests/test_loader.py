"""Training batches from worker processes: the same crops, order and weights whatever the worker count."""
from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import TINY, learnable_cache, write_records

from ecgnet.config import ADOPTED_LEVERS, PRESETS
from ecgnet.data.cache import build_cache, prepare_inputs
from ecgnet.data.loader import EpochLoader, WindowDataset, choose_workers, plan_epoch, record_lengths, shard
from ecgnet.errors import ConfigError
from ecgnet.signal import prepare_input, random_crop_or_pad
from ecgnet.training.train import inner_split, train_fold

WINDOW = 700  # between the records' lengths (400-900 samples): both crops and zero-padding occur


def _sequential_batches(cache, fit_idx, window, batch_size, rng):
    """The single-threaded loop of earlier versions: crops drawn batch by batch with random_crop_or_pad."""
    order = rng.permutation(fit_idx)
    for start in range(0, len(order), batch_size):
        idx = np.sort(order[start:start + batch_size])
        yield idx, np.stack([random_crop_or_pad(cache.signal(int(i)), window, rng) for i in idx])


def _epoch(cache, fit_idx, workers, seed=7, rank=0, world=1, batch_size=16):
    feed = EpochLoader(cache, WINDOW, workers, pin_memory=False)
    batches, count = feed.epoch(fit_idx, batch_size, np.random.default_rng(seed), rank, world)
    batches = list(batches)
    assert len(batches) == count
    return batches


def test_the_plan_gives_the_crops_and_order_of_the_sequential_loop():
    cache = learnable_cache(70)
    fit_idx = np.arange(3, 70)
    expected = list(_sequential_batches(cache, fit_idx, WINDOW, 16, np.random.default_rng(7)))
    got = _epoch(cache, fit_idx, workers=0)
    assert len(got) == len(expected) == 5
    for (idx, windows), (signals, demographics, labels, size) in zip(expected, got):
        np.testing.assert_array_equal(signals.numpy(), windows)
        np.testing.assert_array_equal(labels.numpy(), cache.labels[idx].astype(np.float32))
        np.testing.assert_array_equal(demographics.numpy(), cache.demographics[idx])
        assert size == len(idx) and signals.dtype == torch.float32


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_processes_give_the_same_batches_in_the_same_order(workers):
    cache = learnable_cache(70)
    reference, batches = _epoch(cache, np.arange(70), 0), _epoch(cache, np.arange(70), workers)
    assert len(reference) == len(batches)
    for a, b in zip(reference, batches):
        for x, y in zip(a[:3], b[:3]):
            assert torch.equal(x, y)
        assert a[3] == b[3]


def test_worker_count_does_not_change_the_trained_weights(tmp_path):
    cache = learnable_cache(60)
    config = TINY.replace(epochs=2, lr_milestones=(1,))
    fit_idx, val_idx = inner_split(cache, np.arange(60), config, seed=0, fold=0)
    results = [train_fold(cache, fit_idx, val_idx, config.replace(loader_workers=w), tmp_path / str(w), seed=0, fold=0)
               for w in (0, 2)]
    for key, value in results[0].state_dict.items():
        assert torch.equal(value, results[1].state_dict[key]), key
    np.testing.assert_array_equal(results[0].thresholds, results[1].thresholds)
    assert results[0].log[-1]["loss"] == results[1].log[-1]["loss"]


def test_ranks_share_out_each_global_batch_disjointly():
    lengths = np.full(50, 800)
    plan = plan_epoch(lengths, np.arange(50), 512, 16, np.random.default_rng(0))  # batches of 16, 16, 16, 2
    parts = [shard(plan, rank, 3) for rank in range(3)]
    sizes = parts[0][1]
    assert sizes == [16, 16, 16] and all(p[1] == sizes for p in parts)  # the 2-record batch cannot feed 3 ranks
    for b, (idx, starts, _, _) in enumerate(plan[:3]):
        pieces = [p[0][b] for p in parts]
        assert [len(i) for i, _, _, _ in pieces] == [6, 5, 5]
        np.testing.assert_array_equal(np.concatenate([i for i, _, _, _ in pieces]), idx)
        np.testing.assert_array_equal(np.concatenate([s for _, s, _, _ in pieces]), starts)
    alone, sizes = shard(plan, 0, 1)
    assert sizes == [16, 16, 16, 2] and len(alone) == 4
    for (idx, starts, _, _), (own_idx, own_starts, _, _) in zip(plan, alone):
        np.testing.assert_array_equal(idx, own_idx)
        np.testing.assert_array_equal(starts, own_starts)


def test_a_cache_travels_to_spawned_workers_as_its_folder(tmp_path):
    cache = build_cache(write_records(tmp_path / "data", 4), tmp_path / "cache", workers=1)
    batch = (np.array([0, 2]), np.array([5, 100]), -1, 512)
    for dataset in (WindowDataset(cache), WindowDataset(prepare_inputs(cache, PRESETS["default"], 1), PRESETS["default"], True)):
        payload = pickle.dumps(dataset)
        assert len(payload) < 4000  # the path (and the configuration), not 4 x 12 x 2570 floats
        assert torch.equal(dataset[batch], pickle.loads(payload)[batch])
    np.testing.assert_array_equal(record_lengths(cache), cache.lengths)


def test_batches_carry_the_labels_of_the_training_process_whatever_the_workers(tmp_path):
    """Labels the training process changed (another class set) are what the batches carry, not the cache file's."""
    cache = replace(build_cache(write_records(tmp_path / "data", 6), tmp_path / "cache", workers=1), labels=np.eye(6, 26, dtype=bool))
    for workers in (0, 1):
        (_, demographics, labels, _), = EpochLoader(cache, 512, workers, pin_memory=False).epoch(np.arange(6), 6, np.random.default_rng(0))[0]
        np.testing.assert_array_equal(labels.numpy(), np.eye(6, 26))
        np.testing.assert_array_equal(demographics.numpy(), cache.demographics)


def test_records_prepared_once_give_the_weights_of_filtering_them_for_every_window(tmp_path, monkeypatch):
    """The adopted recipe (band-pass, stride padding): the loader reads records the cache filtered once, and inner
    validation reads them too; the trained fold is bit for bit the one that filtering each record whenever it was
    read (the loader of earlier versions, and the fallback of a cache folder that cannot take them) gives."""
    cache = build_cache(write_records(tmp_path / "data", 25), tmp_path / "cache", workers=1)
    config = TINY.replace(epochs=1, lr_milestones=(1,), batch_size=8, window=1024, **ADOPTED_LEVERS)
    fit_idx, val_idx = inner_split(cache, np.arange(25), config, seed=0, fold=0)
    filtered = []
    monkeypatch.setattr("ecgnet.data.loader.prepare_input", lambda signal, levers: filtered.append(1) or prepare_input(signal, levers))
    once = train_fold(cache, fit_idx, val_idx, config, tmp_path / "once", seed=0, fold=0)
    assert not filtered and any(path.name.startswith("inputs-") for path in cache.path.iterdir())
    monkeypatch.setattr("ecgnet.data.loader.prepare_inputs", lambda *args: None)
    every_window = train_fold(cache, fit_idx, val_idx, config, tmp_path / "every", seed=0, fold=0)
    assert len(filtered) == len(fit_idx)
    for key, value in once.state_dict.items():
        assert torch.equal(value, every_window.state_dict[key]), key
    np.testing.assert_array_equal(once.thresholds, every_window.thresholds)
    assert once.log[-1]["loss"] == every_window.log[-1]["loss"] and once.inner_val_score == every_window.inner_val_score


def test_automatic_worker_count_leaves_the_cpu_to_training_and_feeds_a_gpu(monkeypatch):
    monkeypatch.setattr("ecgnet.data.loader.available_cores", lambda: 16)
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert choose_workers(-1, cpu) == 0 and choose_workers(3, cpu) == 3
    assert choose_workers(-1, gpu) == 8 and choose_workers(-1, gpu, processes_per_node=4) == 3
    assert choose_workers(-1, gpu, processes_per_node=16) == 1


def test_a_loader_worker_count_below_minus_one_is_refused():
    with pytest.raises(ConfigError, match="loader_workers"):
        TINY.replace(loader_workers=-2)


def test_augmentation_draws_from_the_plan_so_workers_do_not_change_it():
    """A random lever on: the windows change, the same with 0 or 1 workers; all levers off: plain crops as above."""
    cache = learnable_cache(40)
    config = TINY.replace(augment_amplitude=0.3, augment_noise_mv=0.05, augment_stretch=0.1)

    def epoch(workers, levers):
        feed = EpochLoader(cache, WINDOW, workers, pin_memory=False, config=levers)
        batches, _ = feed.epoch(np.arange(40), 16, np.random.default_rng(7))
        return [b[0] for b in batches]

    plain, off = epoch(0, None), epoch(0, TINY)
    augmented, augmented_by_worker = epoch(0, config), epoch(1, config)
    assert all(torch.equal(a, b) for a, b in zip(plain, off))
    assert all(torch.equal(a, b) for a, b in zip(augmented, augmented_by_worker))
    assert not any(torch.equal(a, b) for a, b in zip(plain, augmented))


def test_stride_padding_pads_each_batch_to_its_longest_record_only():
    """pad_to = "stride": a batch of short records is as long as its longest one rounded up to the stride, never past the window."""
    lengths = np.array([700, 300, 2000, 5000, 650, 640])
    plain = plan_epoch(lengths, np.array([0, 1, 4]), 1024, 8, np.random.default_rng(0))
    assert [batch[3] for batch in plain] == [1024]
    short = plan_epoch(lengths, np.array([0, 1, 4]), 1024, 8, np.random.default_rng(0), multiple=32)
    assert [batch[3] for batch in short] == [704]  # 700 rounded up to 22 x 32
    idx, starts, _, length = short[0]
    assert all(0 <= start <= length - lengths[i] for i, start in zip(idx, starts))
    mixed = plan_epoch(lengths, np.arange(6), 1024, 8, np.random.default_rng(0), multiple=32)
    assert [batch[3] for batch in mixed] == [1024]
    cache = learnable_cache(12)
    feed = EpochLoader(cache, 1024, 0, pin_memory=False, config=TINY.replace(pad_to="stride"))
    batches, _ = feed.epoch(np.arange(12), 4, np.random.default_rng(1))
    expected = plan_epoch(record_lengths(cache), np.arange(12), 1024, 4, np.random.default_rng(1), multiple=32)
    assert [b[0].shape[2] for b in batches] == [batch[3] for batch in expected]
    assert all(batch[3] < 1024 for batch in expected)  # the records are 400-900 samples long
