"""Typed settings: one frozen dataclass per section of a ``params.yaml`` profile, checked when the
profile is loaded (``z1.config.load_profile`` / ``load_settings``), so a misspelled key, a wrong type
or an unknown mode fails at once with one line naming the profile, the key and what is allowed:

    params.yaml: mini.inference.methods.stw.mode: 'corected' is not one of 'paper', 'corrected'
    params.yaml: ci.sft: unknown key 'learning_rte' (known: epochs, max_steps, learning_rate, ...)

Defaults live here, once (a profile may leave out any key that has one). ``ProfileSettings`` is the
typed view; the stages still receive the plain mapping (``load_profile``), which these checks guard.
Cross-section rules (a method's models are inference models, the teacher is an asset, ...) are
checked too. Method options are checked against the test-time method they go to (``METHOD_OPTIONS``;
a test keeps that table equal to ``z1.thinking``'s signatures).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

Dtype = Literal["float32", "bfloat16", "float16"]
Engine = Literal["transformers", "vllm"]
Function = Literal["shifted_thinking_window", "r1_truncation", "budget_forcing", "no_cap"]
Scheduler = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                    "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "warmup_stable_decay"]

# options a method entry may pass to its z1.thinking function (besides function, models, windows, max_tokens)
_STW_OPTIONS = ("per_sample", "answer_budget", "keep_thinking", "stop_ends_window", "pass2_as_ids", "clamp_window")
METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "shifted_thinking_window": ("stop", "stop_token_ids", "mode", "hint", "options", "one_pass", *_STW_OPTIONS),
    "r1_truncation": ("stop", "stop_token_ids", "think_close", "close_text", "force_text", "answer_budget"),
    "budget_forcing": ("stop", "stop_token_ids", "min_thinking", "max_waits", "end_of_thinking", "wait_text",
                       "final_answer_text", "answer_separator", "answer_budget"),
    "no_cap": ("stop", "stop_token_ids"),
}


class SettingsError(ValueError):
    """A profile's settings do not fit their schema; the message names the key and what is allowed."""

    def __init__(self, where: str, detail: str):
        super().__init__(f"{where}: {detail}")
        self.where, self.detail = where, detail


# ---------------------------------------------------------------------------------------------------------------
# the sections
@dataclass(frozen=True)
class ModelSpec:
    source: Literal["registry", "hub", "local"]
    id: str
    revision: str | None = None


@dataclass(frozen=True)
class AssetSettings:
    models: dict[str, ModelSpec]
    tokenizer: ModelSpec | None = None
    storage_dtype: Dtype = "bfloat16"


@dataclass(frozen=True)
class ComputeSettings:
    device: Literal["cpu", "cuda"] = "cpu"
    dtype: Dtype = "float32"
    threads: int = 2


@dataclass(frozen=True)
class Repetition:
    ngram: int = 4
    threshold: float = 0.5


@dataclass(frozen=True)
class Select:
    mode: Literal["length", "sample"] | None = None
    token_budget: int = 0


@dataclass(frozen=True)
class Decontamination:
    ngram: int = 13
    benchmarks: list[str] = field(default_factory=lambda: ["humaneval", "math500", "gpqa_diamond"])


@dataclass(frozen=True)
class DataSettings:
    source: Literal["regenerate", "released"] = "regenerate"
    released_id: str | None = None
    engine: Engine = "transformers"
    engine_options: dict[str, Any] = field(default_factory=dict)
    pool: Literal["codeio", "evol_codealpaca"] = "codeio"
    pool_dataset: str | None = None
    n_problems: int | None = None
    seed: int = 0
    teacher: str = "base"
    max_tokens: int = 8192
    reasoning_levels: dict[str, str] = field(default_factory=lambda: {"teacher_default": ""})
    keep_rule: Literal["difficulty", "all"] = "difficulty"
    repetition: Repetition = field(default_factory=Repetition)
    filter_repetitive: bool = True
    filter_incorrect: bool = False
    select: Select = field(default_factory=Select)
    shard_size: int = 512
    max_prompt_tokens: int = 8192
    decontaminate: bool = True
    decontamination: Decontamination = field(default_factory=Decontamination)


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


@dataclass(frozen=True)
class SFTSettings:  # defaults: z1.sft.DEFAULT_SETTINGS (a test keeps the two equal)
    epochs: float = 1
    max_steps: int | None = None
    learning_rate: float = 1e-5
    lr_scheduler: Scheduler = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    max_length: int = 4096
    overflow: Literal["truncate", "drop"] = "truncate"
    packing: bool = False
    gradient_checkpointing: bool = False
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    master_dtype: Dtype = "float32"
    save_dtype: Dtype | None = None
    seed: int = 42
    lora: LoraSettings | None = None
    save_steps: int = 500
    save_total_limit: int | None = 2
    logging_steps: int = 1
    checkpoint_dir: str | None = None
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    loss_averaging: Literal["token", "micro_batch"] = "token"
    lm_head: Literal["fused", "logits"] = "fused"
    launcher: list[str] | None = None  # `accelerate launch <launcher>` (z1.sft_launch); None: in process


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int | None = 0


@dataclass(frozen=True)
class MethodSettings:
    function: Function = "shifted_thinking_window"
    models: list[str] | None = None  # None: every inference model
    windows: list[int] | None = None  # None: the section's windows
    max_tokens: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the rest of the entry, for the function


@dataclass(frozen=True)
class InferenceSettings:
    models: list[str]
    benchmarks: dict[str, dict[str, Any]]  # benchmark -> loader options (z1.benchmarks.load)
    methods: dict[str, MethodSettings]
    windows: list[int]
    max_tokens: int
    engine: Engine = "transformers"
    engine_options: dict[str, Any] = field(default_factory=dict)
    share_lora_engine: bool = True
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    batch_size: int = 8
    merge_jobs: bool = False


@dataclass(frozen=True)
class EvaluationSettings:
    bootstrap: int = 1000
    seed: int = 0
    workers: int = 2


@dataclass(frozen=True)
class FiguresSettings:
    main_window: int
    main_method: str = "stw"
    model_methods: dict[str, str] = field(default_factory=dict)  # a model's method when not main_method


@dataclass(frozen=True)
class ProfileSettings:
    name: str
    assets: AssetSettings
    compute: ComputeSettings
    data: DataSettings
    sft: SFTSettings
    inference: InferenceSettings
    evaluation: EvaluationSettings
    figures: FiguresSettings


# ---------------------------------------------------------------------------------------------------------------
# checking
def _fail(where: str, message: str) -> typing.NoReturn:
    raise SettingsError(where, message)


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f"'{value}'"


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            _fail(where, f"{_show(value)} is not one of {', '.join(_show(a) for a in args)}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, where)
            except SettingsError as e:
                errors.append(e.detail if e.where == where else str(e))
        _fail(where, " or ".join(dict.fromkeys(errors)))
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            _fail(where, f"expected a list, got {_show(value)}")
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            _fail(where, f"expected a mapping, got {_show(value)}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            _fail(where, f"expected true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(where, f"expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(where, f"expected a number, got {_show(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            _fail(where, f"expected a string, got {_show(value)}")
        return value
    raise TypeError(f"no rule for {tp!r} at {where}")  # a schema bug, not a user error


def build(cls: type, value: Any, where: str):
    """``cls`` from a mapping: unknown keys, missing required keys and wrong values are errors."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        _fail(where, f"expected a mapping, got {_show(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    value = dict(value)
    if cls is MethodSettings:  # the entry's other keys are the function's options
        value = {**{k: v for k, v in value.items() if k in fields and k != "options"},
                 "options": {k: v for k, v in value.items() if k not in fields or k == "options"}}
    unknown = [k for k in value if k not in fields]
    if unknown:
        _fail(where, f"unknown key {_show(unknown[0])} (known: {', '.join(f for f in fields if f != 'name')})")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            _fail(where, f"missing key {_show(name)}")
    obj = cls(**kwargs)
    if cls is MethodSettings:
        allowed = METHOD_OPTIONS[obj.function]
        bad = [k for k in obj.options if k not in allowed]
        if bad:
            _fail(f"{where}.{bad[0]}", f"not an option of {obj.function} (options: {', '.join(allowed)})")
        if "mode" in obj.options:
            _convert(Literal["paper", "corrected"], obj.options["mode"], f"{where}.mode")
    return obj


def _cross_checks(s: ProfileSettings, where: str) -> None:
    inf = s.inference
    assets = set(s.assets.models)
    for key in inf.models:
        if key != "sft" and key not in assets:
            _fail(f"{where}.inference.models", f"{_show(key)} is neither an asset model ({', '.join(assets)}) nor sft")
    for name, m in inf.methods.items():
        for key in m.models or ():
            if key not in inf.models:
                _fail(f"{where}.inference.methods.{name}.models", f"{_show(key)} is not in inference.models")
        for key, values in (("windows", m.windows), ("", inf.windows)):
            for w in values or ():
                if w < 1:
                    _fail(f"{where}.inference.{'methods.' + name + '.' if key else ''}windows", f"{w} is not >= 1")
    if not inf.methods:
        _fail(f"{where}.inference.methods", "no test-time method configured")
    if s.data.source == "regenerate" and s.data.teacher not in assets:
        _fail(f"{where}.data.teacher", f"{_show(s.data.teacher)} is not an asset model ({', '.join(assets)})")
    if s.data.source == "released" and not s.data.released_id:
        _fail(f"{where}.data.released_id", "source 'released' needs the dataset id or a local path")
    for model, method in s.figures.model_methods.items():
        if model not in inf.models or method not in inf.methods:
            _fail(f"{where}.figures.model_methods.{model}", f"{_show(model)} must be an inference model and "
                                                            f"{_show(method)} one of its methods")
    if s.figures.main_method not in inf.methods:
        _fail(f"{where}.figures.main_method", f"{_show(s.figures.main_method)} is not a method of inference.methods "
                                              f"({', '.join(inf.methods)})")


def from_section(name: str, section: Mapping, *, where: str = "params.yaml") -> ProfileSettings:
    """The typed settings of profile ``name`` (its section of params.yaml); SettingsError if they do not fit."""
    settings = build(ProfileSettings, {"name": name, **dict(section)}, f"{where}: {name}")
    _cross_checks(settings, f"{where}: {name}")
    return settings
