"""The shared atomic writes (z1.atomic), the one dtype reader (z1.dtypes) and its CPU bf16 check."""

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


def _cpuinfo(tmp_path, flags: str):
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 avx2 {flags}\n\n"
                 f"processor\t: 1\nflags\t\t: fpu sse2 avx2 {flags}\n")
    return str(p)


@pytest.mark.parametrize("flags, native", [("avx512f avx512_bf16", True), ("amx_tile amx_bf16", True),
                                           ("avx512f avx512bw", False), ("", False)])
def test_cpu_has_native_bf16_reads_the_flags(tmp_path, flags, native):
    assert dtypes.cpu_has_native_bf16(_cpuinfo(tmp_path, flags)) is native


def test_cpu_has_native_bf16_unknown_without_cpuinfo(tmp_path):
    assert dtypes.cpu_has_native_bf16(str(tmp_path / "missing")) is None


def test_cpu_dtype_warning_only_for_bf16_on_a_cpu_without_it(tmp_path):
    slow, fast = _cpuinfo(tmp_path, "avx512f"), str(tmp_path / "fast")
    (tmp_path / "fast").write_text("flags\t: avx512f avx512_bf16\n")
    warning = dtypes.cpu_dtype_warning("cpu", "bf16", slow)
    assert warning and "compute.dtype: float32" in warning
    assert dtypes.cpu_dtype_warning("cpu", "bfloat16", fast) is None
    assert dtypes.cpu_dtype_warning("cpu", "float32", slow) is None
    assert dtypes.cpu_dtype_warning("cuda", "bfloat16", slow) is None
    assert dtypes.cpu_dtype_warning("cpu", "bfloat16", str(tmp_path / "missing")) is None
