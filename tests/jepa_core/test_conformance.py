"""Conformance: every registered component and preset passes the kit (``jepa_core.testing``),
and the kit catches deliberately broken components, naming the violated property.

The registry under test holds the built-ins (core + the ``image`` entry point), the toy 1-D
plugin and the stripe example plugin. ``image_folder`` is the one built-in without an
``example`` (it needs image files): it is checked on a tiny temporary folder below.
"""

from __future__ import annotations

import contextlib
import math
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import torch
from PIL import Image
from torch import nn

from jepa_core import hookimpl
from jepa_core.interfaces import MaskSet
from jepa_core.registry import Registry, build_registry
from jepa_core.regularizers import VICReg
from jepa_core.specs import COMPONENT_KINDS, EncoderSpec, Example, LossSpec, MaskerSpec
from jepa_core.testing import (
    KIND_ORDER,
    check_dataset,
    check_dataset_splits,
    check_encoder,
    check_folder_dataset,
    check_loss,
    check_masker,
    check_predictor,
    check_regularizer,
    check_target_provider,
    conformance_cases,
    example_input,
    random_masks,
)
from tests import toy_seq_plugin
from tests.toy_seq_plugin import (
    SeqBlockConfig,
    SeqBlockMasker,
    SeqEncoder,
    SeqEncoderConfig,
    SeqPredictor,
    SeqPredictorConfig,
)

STRIPE_PLUGIN_DIR = Path(__file__).resolve().parents[2] / "examples" / "stripe_masker_plugin"
PROJECT_PLUGINS = {"core", "image", "video", "audio", "toyseq", "stripes"}
# Built-ins allowed to have no example, each checked by its own test here.
PLACEHOLDERS = {("predictor", "none"), ("target", "none"), ("masker", "none")}  # the core's 'none' parts
NO_EXAMPLE = {
    ("dataset", "image_folder"),
    ("dataset", "video_frames"),
    ("dataset", "video_files"),
    ("dataset", "wav_folder"),
}


@contextlib.contextmanager
def project_registry() -> Iterator[Registry]:
    """Built-ins (entry points), the toy plugin and the stripe example plugin from its folder."""
    path = str(STRIPE_PLUGIN_DIR)
    sys.path.insert(0, path)
    try:
        yield build_registry(autoload=True, plugins=[toy_seq_plugin, "stripe_masker.plugin"])
    finally:
        sys.path.remove(path)
        sys.modules.pop("stripe_masker.plugin", None)
        sys.modules.pop("stripe_masker", None)


with project_registry() as _reg:  # collection only: the ids; the tests use a fresh registry
    CASE_IDS = [case.id for case in conformance_cases(_reg)]
    PRESETS = [(plugin, name) for plugin in _reg.preset_plugins() for name in sorted(_reg.presets(plugin))]
del _reg


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/jepa_core/conftest.py


@pytest.fixture(scope="module")
def registry():
    with project_registry() as reg:  # the stripe module stays importable (picklable) meanwhile
        yield reg


@pytest.fixture(scope="module")
def cases(registry):
    return {case.id: case for case in conformance_cases(registry)}


# ------------------------------------------------------------- every component
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_registered_component_conforms(cases, case_id):
    cases[case_id].run()


def test_every_registered_component_has_a_case(registry, cases):
    covered = {(c.kind, c.name) for c in cases.values()}
    registered = {(kind, name) for kind in KIND_ORDER for name in registry.names(kind)}
    assert covered == registered
    assert set(KIND_ORDER) == set(COMPONENT_KINDS)  # a new kind needs a check in the kit
    assert {p for p, _ in PRESETS} == set(registry.preset_plugins())


def test_project_components_all_have_examples_and_run(registry, cases):
    for kind in KIND_ORDER:
        for name in registry.names(kind):
            plugin = registry.provider_of(kind, name).name
            spec = registry.get(kind, name)
            if plugin in PROJECT_PLUGINS and (kind, name) not in NO_EXAMPLE and not spec.placeholder:
                assert spec.example is not None, f"{plugin}: {kind} '{name}' has no example"
    skipped = {(c.kind, c.name) for c in cases.values() if c.skip_reason and c.plugin in PROJECT_PLUGINS}
    assert skipped == NO_EXAMPLE | PLACEHOLDERS
    with_example = {n for n in registry.names("encoder") if registry.get("encoder", n).example is not None}
    assert {c.encoder for c in cases.values() if c.id.startswith("target:ema")} == with_example


def test_image_folder_dataset_conforms(registry, tmp_path):
    g = torch.Generator().manual_seed(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            pixels = (torch.rand(20, 24, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(tmp_path / cls / f"{i}.png")
    spec = registry.get("dataset", "image_folder")
    options = spec.config_type(root=str(tmp_path), resolution=16, val_fraction=0.5)
    check_dataset_splits(spec, options, name="dataset 'image_folder' (plugin 'image')")


def test_every_plugin_folder_dataset_reads_folders(registry):
    for plugin in registry.plugins:
        check_folder_dataset(registry, plugin)
    named = {p: spec.dataset for p in registry.plugins if (spec := registry.folder_dataset(p)) is not None}
    assert named == {"image": "image_folder", "video": "video_frames", "audio": "wav_folder"}
    exporters = {p: list(registry.exporters(p)) for p in registry.plugins if registry.exporters(p)}
    assert exporters == {"image": ["timm"], "audio": ["timm"]}


# ----------------------------------------------------------------- every preset
def shrink(cfg) -> list[str]:
    """Overrides that make a preset's one step cheap on CPU."""
    predictor = ["predictor.depth=1"] if cfg.predictor.name != "none" else []
    if cfg.plugin == "image":
        p = cfg.encoder.options.patch_size
        res = 10 * p  # a 10x10 token grid: the official masks (min_keep 10) fit
        local = [f"data.local_resolution={4 * p}"] if getattr(cfg.data.options, "multi_crop", False) else []
        return ["encoder.depth=1", *predictor, f"encoder.img_size={res}", f"data.resolution={res}", *local]
    if cfg.plugin == "video":  # a 2 x 4 x 4 tubelet grid: the V-JEPA masks (min_keep 10) still fit
        res = 4 * cfg.encoder.options.patch_size
        return ["encoder.depth=1", *predictor, f"encoder.img_size={res}", "encoder.num_frames=4"]
    if cfg.plugin == "audio":  # a 16 x 4 grid of (time, frequency) patches
        p = cfg.encoder.options.patch_size
        return ["encoder.depth=1", *predictor, f"encoder.num_frames={16 * p}", f"encoder.num_mels={4 * p}"]
    if cfg.plugin == "toyseq":
        return ["encoder.depth=1"]
    return []


@pytest.mark.parametrize("plugin,preset", PRESETS, ids=[f"{p}/{n}" for p, n in PRESETS])
def test_preset_builds_and_takes_one_step(registry, plugin, preset):
    from jepa_core.testing import check_preset

    out = check_preset(registry, plugin, preset, shrink)
    assert out.step == 0 and math.isfinite(float(out.loss))


# ------------------------------------------------------ the kit catches violations
GRID = (16,)


def _toy_encoder() -> SeqEncoder:
    torch.manual_seed(0)
    return SeqEncoder(SeqEncoderConfig(length=32, width=16, depth=1))


def _parts():
    enc = _toy_encoder()
    return enc, example_input(enc, 2), random_masks(2, enc.token_grid, torch.Generator().manual_seed(0))


class OverlapMasker:
    """Its context keeps one target token."""

    def __call__(self, batch_size, grid, generator):
        n = math.prod(grid)
        perm = torch.stack([torch.randperm(n, generator=generator) for _ in range(batch_size)])
        return MaskSet(context=perm[:, : n // 2 + 1].sort(dim=1).values, targets=perm[:, None, n // 2 :])


class GlobalRngMasker(SeqBlockMasker):
    """Draws from the global RNG instead of the generator."""

    def __call__(self, batch_size, grid, generator):
        return super().__call__(batch_size, grid, torch.Generator().manual_seed(int(torch.randint(0, 2**31, ()))))


class LambdaMasker(SeqBlockMasker):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.hook = lambda masks: masks  # lambdas do not pickle


class Int32Masker(SeqBlockMasker):
    def __call__(self, batch_size, grid, generator):
        masks = super().__call__(batch_size, grid, generator)
        return MaskSet(masks.context.int(), masks.targets.int())


class DroppingEncoder(SeqEncoder):
    """Returns one token too few."""

    def forward(self, x, keep=None):
        return super().forward(x, keep)[:, :-1]


class UnusedParamEncoder(SeqEncoder):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.spare = nn.Linear(2, 2)


class ColumnMajorPredictor(SeqPredictor):
    """Rows in m*B + b order instead of b*M + m."""

    def forward(self, ctx, ctx_idx, tgt_idx):
        b, m, _ = tgt_idx.shape
        out = super().forward(ctx, ctx_idx, tgt_idx)
        return out.view(b, m, *out.shape[1:]).transpose(0, 1).reshape(out.shape)


class PerSetTokenPredictor(SeqPredictor):
    """Holds one extra vector per mask set; ``use_index=False`` forgets to pick it by mask_index."""

    def __init__(self, cfg, enc, use_index: bool):
        super().__init__(cfg, enc)
        self.num_mask_tokens, self.use_index = 2, use_index
        self.set_bias = nn.ParameterList(nn.Parameter(torch.zeros(enc.embed_dim)) for _ in range(2))

    def forward(self, ctx, ctx_idx, tgt_idx, mask_index: int = 0):
        return super().forward(ctx, ctx_idx, tgt_idx) + self.set_bias[mask_index if self.use_index else 0]


class SharingTarget(nn.Module):
    """Uses the context encoder itself as the teacher."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    @torch.no_grad()
    def targets(self, x, target_idx):
        from jepa_core.interfaces import gather_target_blocks

        return gather_target_blocks(self.encoder(x), target_idx)

    def update(self, context_encoder, momentum):
        pass


class CopyingTarget(nn.Module):
    """Copies the encoder on every update, whatever the momentum."""

    def __init__(self, encoder):
        super().__init__()
        from jepa_core.targets import EMATargetProvider

        self.inner = EMATargetProvider(encoder)
        self.encoder = self.inner.encoder

    def targets(self, x, target_idx):
        return self.inner.targets(x, target_idx)

    def update(self, context_encoder, momentum):
        self.inner.update(context_encoder, 0.0)


class OffsetLoss:
    def __call__(self, predictions, targets):
        return (predictions - targets).abs().mean() + 1.0


class UnreducedLoss:
    def __call__(self, predictions, targets):
        return (predictions - targets).square()


class RaggedDataset:
    def __len__(self):
        return 3

    def __getitem__(self, i):
        return torch.zeros(4 + i), 0


def test_kit_catches_context_target_overlap():
    with pytest.raises(AssertionError, match=r"masker OverlapMasker: context and targets overlap in sample 0"):
        check_masker(OverlapMasker(), GRID)


def test_kit_catches_a_non_deterministic_masker():
    with pytest.raises(AssertionError, match=r"GlobalRngMasker: not deterministic"):
        check_masker(GlobalRngMasker(SeqBlockConfig()), GRID)


def test_kit_catches_an_unpicklable_masker():
    with pytest.raises(AssertionError, match=r"LambdaMasker: not picklable"):
        check_masker(LambdaMasker(SeqBlockConfig()), GRID)


def test_kit_catches_wrong_index_dtype():
    with pytest.raises(AssertionError, match=r"MaskSet.context must have dtype torch.long"):
        check_masker(Int32Masker(SeqBlockConfig()), GRID)


def test_kit_catches_an_encoder_output_of_the_wrong_shape():
    enc = DroppingEncoder(SeqEncoderConfig(length=32, width=16, depth=1))
    expected = r"encoder DroppingEncoder: forward\(x\).* must have shape \(2, 8, 16\), got \(2, 7"
    with pytest.raises(AssertionError, match=expected):
        check_encoder(enc, example_input(enc, 2))


def test_kit_catches_a_parameter_without_gradient():
    enc = UnusedParamEncoder(SeqEncoderConfig(length=32, width=16, depth=1))
    with pytest.raises(AssertionError, match=r"gradients do not flow to parameters \['spare.weight', 'spare.bias'\]"):
        check_encoder(enc, example_input(enc, 2), name="encoder 'unused' (plugin 'x')")


def test_kit_catches_a_predictor_with_the_wrong_row_order():
    enc, x, masks = _parts()
    pred = ColumnMajorPredictor(SeqPredictorConfig(width=8), enc)
    with pytest.raises(AssertionError, match=r"ColumnMajorPredictor: .*sample-major \(row b\*M \+ m\)"):
        check_predictor(pred, enc, x, masks)


def test_kit_runs_a_per_set_predictor_for_every_mask_set():
    enc, x, masks = _parts()
    check_predictor(PerSetTokenPredictor(SeqPredictorConfig(width=8), enc, use_index=True), enc, x, masks)
    with pytest.raises(AssertionError, match=r"gradients do not flow to parameters \['set_bias.1'\]"):
        check_predictor(PerSetTokenPredictor(SeqPredictorConfig(width=8), enc, use_index=False), enc, x, masks)


def test_kit_catches_a_target_provider_sharing_the_encoder():
    enc, x, masks = _parts()
    with pytest.raises(AssertionError, match=r"SharingTarget: shares parameters with the context encoder"):
        check_target_provider(SharingTarget(enc), enc, x, masks)


def test_kit_catches_a_target_provider_ignoring_momentum():
    enc, x, masks = _parts()
    with pytest.raises(AssertionError, match=r"update\(encoder, momentum=1.0\) changed target parameters"):
        check_target_provider(CopyingTarget(enc), enc, x, masks)


def test_kit_catches_a_loss_not_zero_on_equal_inputs():
    with pytest.raises(AssertionError, match=r"loss OffsetLoss: must be 0.0 \(its minimum\) for identical"):
        check_loss(OffsetLoss())
    check_loss(OffsetLoss(), minimum=1.0)  # a loss with another minimum says so


def test_kit_catches_a_loss_that_is_not_a_scalar():
    with pytest.raises(AssertionError, match=r"UnreducedLoss: must return a scalar"):
        check_loss(UnreducedLoss())


class _BrokenRegularizer:
    weight, apply_to = 1.0, "pooled"

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, z, *, step):
        return self.fn(z)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda z: z.std(0).mean(), "clearly larger for identical samples"),  # rewards collapse
        (lambda z: VICReg()(z.detach(), step=0), "not differentiable"),
        (lambda z: VICReg()(z, step=0) + torch.rand(()), "global RNG"),
        (lambda z: z.var(0), "floating-point scalar"),
        (lambda z: torch.tensor(float("nan")) + z.sum() * 0, "non-finite"),
    ],
    ids=["rewards-collapse", "no-grad", "global-rng", "not-scalar", "nan"],
)
def test_kit_catches_broken_regularizers(fn, message):
    with pytest.raises(AssertionError, match=message):
        check_regularizer(_BrokenRegularizer(fn), name="reg")


def test_kit_checks_regularizer_weight_and_apply_to():
    bad = _BrokenRegularizer(lambda z: VICReg()(z, step=0))
    bad.weight = -1.0
    with pytest.raises(AssertionError, match="finite number >= 0"):
        check_regularizer(bad)
    bad.weight, bad.apply_to = 1.0, "queue"
    with pytest.raises(AssertionError, match="apply_to"):
        check_regularizer(bad)


def test_kit_catches_a_dataset_with_ragged_items():
    with pytest.raises(AssertionError, match=r"RaggedDataset: items have different input shapes"):
        check_dataset(RaggedDataset())


# ------------------------------------------------ plugin-level: names, skips, filters
@attrs.frozen
class _Opts:
    pass


def _broken_plugin() -> types.ModuleType:
    module = types.ModuleType("broken")
    module.JEPA_PLUGIN_NAME = "broken"

    def jepa_maskers():
        yield MaskerSpec(
            name="overlap",
            config_type=_Opts,
            build=lambda cfg: OverlapMasker(),
            example=lambda: Example(options=_Opts(), grid=(4, 4)),
        )
        yield MaskerSpec(name="gridless", config_type=_Opts, build=lambda cfg: OverlapMasker(), example=_Opts)
        yield MaskerSpec(name="undocumented", config_type=_Opts, build=lambda cfg: OverlapMasker())

    def jepa_losses():
        yield LossSpec(name="offset", config_type=_Opts, build=lambda cfg: OffsetLoss())  # no example: defaults

    module.jepa_maskers = hookimpl(jepa_maskers)
    module.jepa_losses = hookimpl(jepa_losses)
    return module


def test_cases_name_the_plugin_and_skip_what_they_cannot_check():
    reg = build_registry(autoload=False, plugins=[_broken_plugin()])
    cases = {c.id: c for c in conformance_cases(reg, plugins=["broken"])}
    assert set(cases) == {"masker:overlap", "masker:gridless", "masker:undocumented", "loss:offset"}
    with pytest.raises(AssertionError, match=r"masker 'overlap' \(plugin 'broken'\): context and targets overlap"):
        cases["masker:overlap"].run()
    with pytest.raises(AssertionError, match=r"loss 'offset' \(plugin 'broken'\): must be 0.0"):
        cases["loss:offset"].run()
    assert "no grid" in cases["masker:gridless"].skip_reason
    assert "no example" in cases["masker:undocumented"].skip_reason
    with pytest.raises(pytest.skip.Exception, match="no example"):
        cases["masker:undocumented"].run()


class ShapelessEncoder(SeqEncoder):
    """An encoder that does not declare expected_input_shape."""

    def __init__(self, cfg):
        super().__init__(cfg)
        del self.expected_input_shape


def test_encoder_input_shape_comes_from_the_example_when_the_encoder_has_none():
    def jepa_encoders():
        small = SeqEncoderConfig(length=32, width=16, depth=1)
        yield EncoderSpec(name="bare", config_type=SeqEncoderConfig, build=ShapelessEncoder, example=lambda: small)
        yield EncoderSpec(
            name="shaped",
            config_type=SeqEncoderConfig,
            build=ShapelessEncoder,
            example=lambda: Example(options=small, input_shape=(32,)),
        )

    module = types.ModuleType("shapeless")
    module.JEPA_PLUGIN_NAME = "shapeless"
    module.jepa_encoders = hookimpl(jepa_encoders)
    cases = {
        c.id: c for c in conformance_cases(build_registry(autoload=False, plugins=[module]), plugins=["shapeless"])
    }
    with pytest.raises(AssertionError, match=r"encoder 'bare' \(plugin 'shapeless'\): has no expected_input_shape"):
        cases["encoder:bare"].run()
    cases["encoder:shaped"].run()
