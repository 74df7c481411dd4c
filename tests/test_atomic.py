"""The shared atomic writes (z1.atomic) and the one dtype reader (z1.dtypes)."""

from __future__ import annotations

import pytest
import torch

from z1 import atomic, dtypes


def test_write_text_replaces_whole_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "f.json"
    path.write_text("old")
    atomic.write_text(path, "new", fsync=True)
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_bytes(path, b"new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_replace_dir_swaps_a_finished_directory_in(tmp_path):
    out, tmp = tmp_path / "model", tmp_path / ".model.tmp"
    out.mkdir()
    (out / "old.bin").write_text("1")
    tmp.mkdir()
    (tmp / "new.bin").write_text("2")
    atomic.replace_dir(tmp, out)
    assert sorted(p.name for p in out.iterdir()) == ["new.bin"] and sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    fresh = tmp_path / ".fresh"
    fresh.mkdir()
    atomic.replace_dir(fresh, tmp_path / "other")  # no previous directory
    assert (tmp_path / "other").is_dir()


@pytest.mark.parametrize("name, want", [("float32", torch.float32), ("fp32", torch.float32), ("bf16", torch.bfloat16),
                                        ("bfloat16", torch.bfloat16), ("fp16", torch.float16),
                                        ("torch.float16", torch.float16), (torch.bfloat16, torch.bfloat16)])
def test_dtype_names(name, want):
    assert dtypes.torch_dtype(name) is want


def test_an_unknown_dtype_lists_the_known_names():
    with pytest.raises(ValueError, match="dtype must be one of float32, fp32, bfloat16, bf16, float16, fp16, got 'int8'"):
        dtypes.torch_dtype("int8")
