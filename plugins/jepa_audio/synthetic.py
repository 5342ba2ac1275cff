"""Synthetic sounds, rendered on the fly: a quick, file-free audio set whose class is the KIND.

Each sample is a normalised log-mel spectrogram ``[1, num_frames, n_mels]`` (time x mel bins,
see :mod:`jepa_audio.features`) of ONE sound event over a white background noise. The CLASS is
the kind of sound: label ``k`` is ``KINDS[k]`` (``num_classes`` uses the first ``num_classes``
kinds) and sample ``i`` of a split has label ``i % num_classes`` (balanced):

====  =================  ===========================================================
 0    ``tone``           a pure sine at ``f0``
 1    ``harmonic``       ``f0`` plus 2-6 overtones (amplitude ``1/k``; none above 0.45 sr)
 2    ``chirp_up``       exponential sweep from ``f0`` up to ``f0 * ratio``
 3    ``chirp_down``     exponential sweep from ``f0 * ratio`` down to ``f0``
 4    ``tremolo``        a sine at ``f0``, amplitude-modulated at 4-12 Hz (depth 70-100%)
 5    ``clicks``         a train of 4-16 clicks per second (2-6 ms decays) of band noise
 6    ``noise_band``     steady noise in the band ``[f0, f0 * ratio]``
 7    ``trill``          alternation of ``f0`` and ``f0 * (1.25..1.6)`` at 6-15 Hz
 8    ``vibrato``        a sine at ``f0`` frequency-modulated at 4-8 Hz by 6-12%
 9    ``notched_noise``  broadband noise with a notch over ``[f0, f0 * sqrt(ratio)]``
====  =================  ===========================================================

The parameters are random and drawn independently of the label (the same draws, in the same
order, for every kind; the noise kinds then draw their source noise last): ``f0`` log-uniform
in 150-1500 Hz (scaled by ``sample_rate / 16000``), ``ratio`` in [2, 4], loudness -35..-10 dB
RMS, the event lasting 50-90% of the rendering at a random onset (10 ms raised-cosine fades),
white background noise 10-40 dB below the event. No single spectral bin, level or time tells
the class: only the spectro-temporal pattern does. Sample ``i`` of a split is a pure function
of ``(seed, split, i)`` (``numpy.random.default_rng((seed, split_id, i))``); the waveform is
generated vectorised in numpy (float32), about 2 ms per sample on one CPU core.

Train augmentation (``augment``, train split only): a random time shift. Each sample is rendered
``max_shift`` frames longer on both sides (``num_frames + 2 * max_shift`` frames); the train
split crops a uniformly random window of ``num_frames`` (torch's global RNG), ``train_eval``
and ``val`` the centred one. No SpecAugment (A-JEPA pretraining uses none).

Normalisation: ``(logmel - norm_mean) / norm_std`` with AudioSet's statistics by default
(``-4.27``, ``4.57``, as ``wav_folder``). This set's own log-mel statistics at the default
options are close (mean about -4.4, std about 3.5), so the inputs come out roughly zero-mean
with a standard deviation of about 0.75.

Example::

    ds = build_synthetic_sounds(SyntheticSoundsConfig(), "val")
    x, y = ds[3]              # tensor [1, 256, 64], label 3 ("chirp_down")
    ds.render(3).kind         # 'chirp_down'; .waveform is the float32 audio
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch

from jepa_audio.features import AUDIOSET_MEAN, AUDIOSET_STD, LogMel, fit_frames
from jepa_core.config import non_negative, positive
from jepa_vit.synthetic import SyntheticDataset, synthetic_split

KINDS: tuple[str, ...] = (
    "tone", "harmonic", "chirp_up", "chirp_down", "tremolo",
    "clicks", "noise_band", "trill", "vibrato", "notched_noise",
)  # fmt: skip
F0_RANGE = (150.0, 1500.0)
"""Base-frequency range in Hz at 16 kHz (scaled by ``sample_rate / 16000``), log-uniform."""
RATIO_RANGE = (2.0, 4.0)
LEVEL_DB = (-35.0, -10.0)
SNR_DB = (10.0, 40.0)
EVENT_FRACTION = (0.5, 0.9)
_RAMP_S = 0.01


def _num_classes(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    if not 2 <= value <= len(KINDS):
        raise ValueError(f"{attr.name} must be in [2, {len(KINDS)}] (one class per sound kind), got {value!r}")


@attrs.frozen(kw_only=True)
class SyntheticSoundsConfig:
    """Options of the ``synthetic_sounds`` dataset.

    A sample is ``num_frames`` frames of ``hop_ms`` (default 256 x 10 ms: 2.575 s of audio at
    ``sample_rate``, the last frame's 25 ms window included) by ``n_mels`` mel bins.
    ``max_shift`` is the train split's largest time shift in frames (``augment``).
    """

    num_train: int = attrs.field(default=2048, validator=positive)
    num_val: int = attrs.field(default=512, validator=positive)
    num_classes: int = attrs.field(default=8, validator=_num_classes)
    num_frames: int = attrs.field(default=256, validator=positive)
    n_mels: int = attrs.field(default=64, validator=positive)
    sample_rate: int = attrs.field(default=16000, validator=positive)
    win_ms: float = attrs.field(default=25.0, validator=positive)
    hop_ms: float = attrs.field(default=10.0, validator=positive)
    max_shift: int = attrs.field(default=16, validator=non_negative)
    norm_mean: float = AUDIOSET_MEAN
    norm_std: float = attrs.field(default=AUDIOSET_STD, validator=positive)
    seed: int = 0
    augment: bool = True

    def __attrs_post_init__(self) -> None:
        self.frontend()  # window / hop / mel-band checks, one sentence each

    def frontend(self) -> LogMel:
        return LogMel(
            sample_rate=self.sample_rate,
            n_mels=self.n_mels,
            win_ms=self.win_ms,
            hop_ms=self.hop_ms,
            norm_mean=self.norm_mean,
            norm_std=self.norm_std,
        )


@attrs.frozen
class SoundClip:
    """One rendered sound: float32 ``waveform [L]`` and the parameters that made it.

    ``onset_s`` / ``duration_s`` place the event in the waveform; ``f0`` and ``ratio`` are its
    frequencies (see :data:`KINDS`); ``rate`` and ``depth`` the kind's modulation (unused by some
    kinds); ``level_db`` the event's RMS level, ``snr_db`` how far the background is below it.
    """

    waveform: np.ndarray
    sample_rate: int
    kind: str
    f0: float
    ratio: float
    onset_s: float
    duration_s: float
    level_db: float
    snr_db: float
    rate: float
    depth: float


def _lerp(u: float, lo_hi: tuple[float, float]) -> float:
    return lo_hi[0] + u * (lo_hi[1] - lo_hi[0])


def _fast_len(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (an FFT length without large prime factors)."""
    best, p5 = 1 << max(n - 1, 0).bit_length(), 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35 << max(0, (n - 1) // p35).bit_length()  # smallest power-of-two multiple >= n
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _band_noise(noise: np.ndarray, num_samples: int, sample_rate: int, lo: float, hi: float, keep: bool) -> np.ndarray:
    """The first ``num_samples`` of white ``noise`` with only the band ``[lo, hi]`` Hz kept
    (``keep``) or removed (a notch), filtered in the frequency domain."""
    spec = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(noise.shape[0], 1.0 / sample_rate)
    inside = (freqs >= lo) & (freqs <= hi)
    spec[~inside if keep else inside] = 0.0
    return np.fft.irfft(spec, n=noise.shape[0])[:num_samples].astype(np.float32)


def render_sound(rng: np.random.Generator, label: int, num_samples: int, sample_rate: int = 16000) -> SoundClip:
    """Render ``num_samples`` samples of a sound of kind ``KINDS[label]`` over background noise.

    The parameters and the background noise are drawn from ``rng`` in the same order and
    number whatever the label, so a given random state gives the same f0, level, timing and
    background for every kind; the noise kinds then draw their source noise last.
    """
    if not 0 <= label < len(KINDS):
        raise ValueError(f"label must be in [0, {len(KINDS) - 1}], got {label!r}")
    kind = KINDS[label]
    sr = sample_rate
    u = rng.random(10)
    background = rng.standard_normal(num_samples, dtype=np.float32)

    scale = sr / 16000.0
    f0 = F0_RANGE[0] * scale * (F0_RANGE[1] / F0_RANGE[0]) ** u[0]
    ratio = _lerp(u[1], RATIO_RANGE)
    level_db = _lerp(u[2], LEVEL_DB)
    clip_s = num_samples / sr
    dur = clip_s * _lerp(u[3], EVENT_FRACTION)
    onset = (clip_s - dur) * u[4]
    snr_db = _lerp(u[5], SNR_DB)
    phase0 = 2 * np.pi * u[8]

    f32 = np.float32
    t = np.arange(num_samples, dtype=f32) / f32(sr)
    rel = t - f32(onset)  # time since the onset
    ramp = min(_RAMP_S, dur / 4)
    gate = np.clip(np.minimum(rel, f32(dur) - rel) * f32(1 / ramp), 0.0, 1.0)
    env = f32(0.5) - f32(0.5) * np.cos(f32(np.pi) * gate)
    tau = np.clip(rel * f32(1 / dur), 0.0, 1.0)  # event progress 0 -> 1

    def sine(freq: float) -> np.ndarray:
        return np.sin(f32(2 * np.pi * freq) * t + f32(phase0))

    def sweep(freq: np.ndarray) -> np.ndarray:  # phase-continuous sine of instantaneous frequency
        phase = np.cumsum(freq, dtype=np.float64) * (2 * np.pi / sr) + phase0
        return np.sin(np.mod(phase, 2 * np.pi).astype(f32))

    def source_noise() -> np.ndarray:  # drawn last (after every parameter), by the noise kinds only
        return rng.standard_normal(_fast_len(num_samples), dtype=f32)

    rate = depth = 0.0
    if kind == "tone":
        s = sine(f0)
    elif kind == "harmonic":  # sin(k x) by the Chebyshev recurrence: cheaper than k sines
        num = sum(1 for k in range(1, 4 + int(u[9] * 5)) if k * f0 < 0.45 * sr)  # 3..7 partials below 0.45 sr
        s1 = sine(f0)
        two_cos = f32(2) * np.sin(f32(2 * np.pi * f0) * t + f32(phase0 + np.pi / 2))
        prev, cur, s = np.zeros_like(s1), s1, s1.copy()
        for k in range(2, num + 1):
            prev, cur = cur, two_cos * cur - prev
            s += cur * f32(1 / k)
        depth = float(num)
    elif kind == "chirp_up":
        s = sweep(f32(f0) * np.exp(tau * f32(np.log(ratio))))
    elif kind == "chirp_down":
        s = sweep(f32(f0 * ratio) * np.exp(tau * f32(-np.log(ratio))))
    elif kind == "tremolo":
        rate, depth = _lerp(u[6], (4.0, 12.0)), _lerp(u[7], (0.7, 1.0))
        mod = f32(1 - depth / 2) + f32(depth / 2) * np.cos(f32(2 * np.pi * rate) * rel)
        s = sine(f0) * mod
    elif kind == "clicks":
        rate, depth = _lerp(u[6], (4.0, 16.0)), _lerp(u[7], (0.002, 0.006))  # depth: decay time (s)
        since = rel - np.floor(rel * f32(rate)) * f32(1 / rate)  # time since the last click
        s = _band_noise(source_noise(), num_samples, sr, f0, f0 * ratio, keep=True) * np.exp(since * f32(-1 / depth))
    elif kind == "noise_band":
        s = _band_noise(source_noise(), num_samples, sr, f0, f0 * ratio, keep=True)
    elif kind == "trill":
        rate, depth = _lerp(u[6], (6.0, 15.0)), _lerp(u[7], (1.25, 1.6))  # depth: frequency interval
        high = (np.maximum(rel, 0) * f32(2 * rate)).astype(np.int32) & 1 == 1
        s = sweep(np.where(high, f32(f0 * depth), f32(f0)))
    elif kind == "vibrato":
        rate, depth = _lerp(u[6], (4.0, 8.0)), _lerp(u[7], (0.06, 0.12))
        s = sweep(f32(f0) * (f32(1) + f32(depth) * np.sin(f32(2 * np.pi * rate) * rel)))
    else:  # notched_noise
        s = _band_noise(source_noise(), num_samples, sr, f0, f0 * np.sqrt(ratio), keep=False)

    s = s.astype(f32) * env
    rms = np.sqrt(np.square(s).sum(dtype=np.float64) / max(float(np.square(env).sum(dtype=np.float64)), 1.0))
    amp = 10.0 ** (level_db / 20.0)
    wave = s * f32(amp / max(rms, 1e-12)) + background * f32(amp * 10.0 ** (-snr_db / 20.0))
    return SoundClip(wave.astype(np.float32), sr, kind, float(f0), float(ratio), float(onset), float(dur),
                     float(level_db), float(snr_db), float(rate), float(depth))  # fmt: skip


class SyntheticSoundsDataset(SyntheticDataset):
    """Map-style dataset of ``(tensor [1, num_frames, n_mels], label)`` synthetic sounds.

    ``random_shift`` crops a random ``num_frames`` window out of the ``num_frames + 2 *
    max_shift`` rendered frames (torch's global RNG); otherwise the centred one.

    Example::

        ds = SyntheticSoundsDataset(100, split="val")
        x, y = ds[2]          # y == 2 ("chirp_up"); ds[2] is the same every time
        ds.render(2).f0       # the sweep's start frequency
    """

    noun = "sounds"

    def __init__(
        self,
        length: int,
        *,
        num_classes: int = 8,
        num_frames: int = 256,
        max_shift: int = 16,
        frontend: LogMel | None = None,
        seed: int = 0,
        split: str = "train",
        random_shift: bool = False,
    ) -> None:
        super().__init__(length, num_classes=num_classes, seed=seed, split=split)
        if not 2 <= num_classes <= len(KINDS):
            raise ValueError(
                f"num_classes must be in [2, {len(KINDS)}] (one class per sound kind), got {num_classes!r}"
            )
        if num_frames < 1 or max_shift < 0:
            raise ValueError(f"num_frames must be >= 1 and max_shift >= 0, got {num_frames!r} and {max_shift!r}")
        self.num_frames, self.max_shift = num_frames, max_shift
        self.frontend = frontend if frontend is not None else LogMel(n_mels=64)
        self.random_shift = random_shift
        self.classes: list[str] = list(KINDS[:num_classes])
        self.num_samples = self.frontend.num_samples(num_frames + 2 * max_shift)

    def render(self, index: int) -> SoundClip:
        """The waveform of sample ``index`` (a pure function of seed, split, index), full length."""
        rng = self.sample_rng(index)
        return render_sound(rng, self.label(index), self.num_samples, self.frontend.sample_rate)

    def spectrogram(self, index: int) -> torch.Tensor:
        """The un-normalised log-mel of the full rendering, ``[num_frames + 2 * max_shift, n_mels]``."""
        return self.frontend.spectrogram(self.render(index).waveform)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        spec = fit_frames(self.spectrogram(index), self.num_frames, train=self.random_shift)
        return self.frontend.normalise(spec).unsqueeze(0).contiguous(), self.label(index)


def build_synthetic_sounds(cfg: SyntheticSoundsConfig, split: str) -> SyntheticSoundsDataset:
    """Train split: ``num_train`` sounds with a random time shift when ``augment``;
    ``train_eval``: the same sounds, centred; val: ``num_val`` held-out sounds, centred."""
    length, part, augment = synthetic_split(cfg, split)
    return SyntheticSoundsDataset(
        length,
        num_classes=cfg.num_classes,
        num_frames=cfg.num_frames,
        max_shift=cfg.max_shift,
        frontend=cfg.frontend(),
        seed=cfg.seed,
        split=part,
        random_shift=augment and cfg.max_shift > 0,
    )


__all__ = [
    "KINDS",
    "SoundClip",
    "SyntheticSoundsConfig",
    "SyntheticSoundsDataset",
    "build_synthetic_sounds",
    "render_sound",
]
