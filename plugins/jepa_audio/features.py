"""Log-mel filterbank features: waveform -> ``[T, F]`` spectrogram (time frames x mel bins).

The audio plugin's samples are float tensors ``[1, T, F]`` (channel, time frames, mel bins):
TIME is the height axis, FREQUENCY the width axis, e.g. ``[1, 1024, 128]`` for a 10 s clip as
in A-JEPA (16 kHz, 128 mel bins, 25 ms window, 10 ms hop, 16 x 16 patches -> 64 x 8 tokens).

Choices (fixed; the datasets and the encoder rely on them):

* **Mel scale: HTK** (``mel = 2595 log10(1 + f / 700)``, the scale of Kaldi's ``fbank`` that
  AST / A-JEPA use). Filters are triangles in Hz between consecutive mel-spaced points, peak 1
  (no area normalisation), so inside ``[centre of the first filter, centre of the last]`` the
  weights of every FFT bin sum to 1. At 16 kHz with ``n_fft = 512`` and 128 bins the lowest
  few filters are narrower than one FFT bin (31.25 Hz) and may hold no bin: those mel bins stay
  at the log floor, exactly as in Kaldi's 128-bin fbank.
* **Framing: Kaldi's "snip edges"**, no centre padding. A clip of ``L`` samples gives
  ``T = 1 + (L - win) // hop`` frames (``L >= win``; a shorter clip is zero-padded to one
  window, ``T = 1``); frame ``t`` covers samples ``[t * hop, t * hop + win)``. ``n_fft``
  (default: the next power of two >= ``win``, 512 for 25 ms at 16 kHz) only zero-pads each frame.
  10 s at 16 kHz: 998 frames (datasets crop or pad to ``num_frames``, e.g. 1024).
* **Window: periodic Hann** of ``win`` samples; power spectrum ``|STFT|^2``, no scaling;
  mel projection; natural ``log(x + 1e-6)``. Multi-channel input ``[C, L]`` is averaged to mono
  first.
* **Normalisation** (:class:`LogMel`): ``(logmel - norm_mean) / norm_std`` with the AudioSet
  statistics AST uses by default (``norm_mean = -4.27``, ``norm_std = 4.57``, natural-log
  units; AST divides by ``2 * std``, we divide by ``std`` so values are roughly unit variance).
* **Crop / pad** (:func:`fit_frames`): a longer spectrogram is cropped in TIME only, at a
  uniformly random start (torch's global RNG, so the loader's per-sample seeding makes it
  reproducible) when ``train``, else CENTRED; a shorter one is padded at the END with its own
  minimum (its quietest level, before normalisation). No SpecAugment: A-JEPA pretraining uses
  none.

Example::

    wav = torch.randn(16000)                        # 1 s at 16 kHz
    spec = log_mel(wav, 16000)                      # [98, 128]
    fe = LogMel(sample_rate=16000, n_mels=128)
    x = fe(wav, num_frames=1024, train=False)       # [1, 1024, 128], normalised
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

LOG_EPS = 1e-6
"""Added to the mel power before the log: silence maps to ``log(1e-6) ~ -13.8``."""
AUDIOSET_MEAN = -4.27
AUDIOSET_STD = 4.57
"""AudioSet log-mel statistics (natural log) used by AST: the default normalisation."""


# ---------------------------------------------------------------------------- mel scale
def hz_to_mel(f: Any) -> Any:
    """HTK mel of ``f`` Hz (a float or a numpy array): ``2595 * log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: Any) -> Any:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def _check_band(n_mels: int, sample_rate: int, f_min: float, f_max: float | None) -> float:
    if not n_mels >= 1:
        raise ValueError(f"n_mels must be >= 1, got {n_mels!r}")
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}")
    nyquist = sample_rate / 2
    top = nyquist if f_max is None else float(f_max)
    if not 0.0 <= f_min < top <= nyquist:
        raise ValueError(
            f"the mel band must satisfy 0 <= f_min < f_max <= sample_rate / 2 = {nyquist:g} Hz, "
            f"got f_min={f_min!r}, f_max={f_max!r}"
        )
    return top


def mel_points(n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> np.ndarray:
    """The ``n_mels + 2`` filter edge frequencies in Hz (equally spaced in mel)."""
    top = _check_band(n_mels, sample_rate, f_min, f_max)
    return mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(top), n_mels + 2))


def mel_centres(n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> np.ndarray:
    """Centre frequency in Hz (where its weight is 1) of each of the ``n_mels`` filters."""
    return mel_points(n_mels, sample_rate, f_min, f_max)[1:-1]


def mel_filterbank(
    n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular HTK-mel filters as a float32 ``[n_fft // 2 + 1, n_mels]`` matrix.

    Column ``m`` rises linearly (in Hz) from edge ``m`` to 1 at centre ``m + 1`` and falls to 0
    at edge ``m + 2`` (edges from :func:`mel_points`). ``power [T, n_freqs] @ fb`` gives mel
    energies.

    >>> mel_filterbank(512, 64, 16000).shape
    torch.Size([257, 64])
    """
    if not n_fft >= 2:
        raise ValueError(f"n_fft must be >= 2, got {n_fft!r}")
    pts = mel_points(n_mels, sample_rate, f_min, f_max)
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)[:, None]
    lo, mid, hi = pts[None, :-2], pts[None, 1:-1], pts[None, 2:]
    rise = (freqs - lo) / (mid - lo)
    fall = (hi - freqs) / (hi - mid)
    return torch.from_numpy(np.maximum(0.0, np.minimum(rise, fall)).astype(np.float32))


@functools.lru_cache(maxsize=16)
def _cached_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_min: float, f_max: float | None) -> torch.Tensor:
    return mel_filterbank(n_fft, n_mels, sample_rate, f_min, f_max)


@functools.lru_cache(maxsize=16)
def _cached_window(win: int) -> torch.Tensor:
    return torch.hann_window(win, periodic=True, dtype=torch.float32)


# ---------------------------------------------------------------------------- framing
def frame_sizes(
    sample_rate: int, win_ms: float = 25.0, hop_ms: float = 10.0, n_fft: int | None = None
) -> tuple[int, int, int]:
    """``(win, hop, n_fft)`` in samples: ``round(sample_rate * ms / 1000)``; ``n_fft`` defaults
    to the next power of two >= ``win``.

    >>> frame_sizes(16000)
    (400, 160, 512)
    """
    win = int(round(sample_rate * win_ms / 1000.0))
    hop = int(round(sample_rate * hop_ms / 1000.0))
    if win < 2 or hop < 1:
        raise ValueError(
            f"win_ms={win_ms!r} and hop_ms={hop_ms!r} at {sample_rate} Hz give a window of {win} and a hop "
            f"of {hop} samples; the window needs >= 2 samples and the hop >= 1"
        )
    if n_fft is None:
        n_fft = 1 << (win - 1).bit_length()
    elif n_fft < win:
        raise ValueError(f"n_fft must be >= the window length ({win} samples), got {n_fft!r}")
    return win, hop, int(n_fft)


def num_frames_for(num_samples: int, win: int, hop: int) -> int:
    """Frames :func:`log_mel` gives for ``num_samples`` samples: ``1 + (L - win) // hop``
    (1 when ``L < win``)."""
    return 1 + (num_samples - win) // hop if num_samples >= win else 1


def samples_for(num_frames: int, win: int, hop: int) -> int:
    """The fewest samples giving ``num_frames`` frames: ``(num_frames - 1) * hop + win``."""
    return (num_frames - 1) * hop + win


def _mono(waveform: Any) -> torch.Tensor:
    x = torch.as_tensor(waveform)
    if not x.is_floating_point():
        x = x.float()
    x = x.to(torch.float32)
    if x.ndim == 2:
        x = x.mean(dim=0)
    elif x.ndim != 1:
        raise ValueError(f"waveform must be [L] or [C, L], got shape {tuple(x.shape)}")
    return x


def log_mel(
    waveform: Any,
    sample_rate: int,
    n_mels: int = 128,
    win_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int | None = None,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> torch.Tensor:
    """Log-mel spectrogram ``[T, n_mels]`` (float32) of a waveform ``[L]`` or ``[C, L]``.

    Frames and scale as in the module docstring: ``T = 1 + (L - win) // hop``, periodic Hann
    window, ``torch.stft(center=False)``, power, HTK mel filters, ``log(x + 1e-6)``.
    """
    x = _mono(waveform)
    win, hop, n_fft = frame_sizes(sample_rate, win_ms, hop_ms, n_fft)
    if x.shape[0] < win:
        x = torch.nn.functional.pad(x, (0, win - x.shape[0]))
    # torch.stft centres a short window inside each n_fft-long frame: pad so that frame t's
    # window covers exactly samples [t * hop, t * hop + win)
    left = (n_fft - win) // 2
    x = torch.nn.functional.pad(x, (left, n_fft - win - left))
    spec = torch.stft(
        x,
        n_fft,
        hop_length=hop,
        win_length=win,
        window=_cached_window(win),
        center=False,
        return_complex=True,
    )  # [n_freqs, T]
    power = spec.real.square() + spec.imag.square()
    fb = _cached_filterbank(n_fft, n_mels, int(sample_rate), float(f_min), None if f_max is None else float(f_max))
    return torch.log(power.T @ fb + LOG_EPS)


# ---------------------------------------------------------------------------- crop / pad
def crop_start(total: int, num_frames: int, train: bool) -> int:
    """Start frame of a ``num_frames`` window in ``total`` frames: uniform over the valid starts
    (torch's global RNG) when ``train``, else centred (``(total - num_frames) // 2``); 0 when
    ``total <= num_frames``."""
    slack = total - num_frames
    if slack <= 0:
        return 0
    return int(torch.randint(slack + 1, (1,))) if train else slack // 2


def fit_frames(spec: torch.Tensor, num_frames: int, train: bool, pad_value: float | None = None) -> torch.Tensor:
    """Crop or pad ``spec [T, F]`` in time to exactly ``[num_frames, F]``.

    Longer: the window from :func:`crop_start` (random when ``train``, else centred). Shorter:
    pad at the end with ``pad_value`` (default: ``spec``'s minimum, its quietest level; call it
    before normalising).
    """
    if not num_frames >= 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames!r}")
    total = spec.shape[0]
    if total >= num_frames:
        s = crop_start(total, num_frames, train)
        return spec[s : s + num_frames]
    fill = float(spec.min()) if pad_value is None else float(pad_value)
    pad = spec.new_full((num_frames - total,) + tuple(spec.shape[1:]), fill)
    return torch.cat([spec, pad], dim=0)


# ---------------------------------------------------------------------------- front end
class LogMel:
    """Waveform -> normalised log-mel sample ``[1, num_frames, n_mels]`` (picklable).

    ``__call__`` crops a long waveform BEFORE the transform (the chosen window of frames only;
    identical to cropping the full spectrogram, as frames sit on the hop grid) and pads a short
    one after it with :func:`fit_frames`.

    Example::

        fe = LogMel(sample_rate=16000, n_mels=128)
        fe(torch.randn(2, 48000), num_frames=256, train=True).shape   # [1, 256, 128]
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 128,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        n_fft: int | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
        norm_mean: float = AUDIOSET_MEAN,
        norm_std: float = AUDIOSET_STD,
    ) -> None:
        if not norm_std > 0:
            raise ValueError(f"norm_std must be > 0, got {norm_std!r}")
        _check_band(n_mels, sample_rate, f_min, f_max)
        self.win, self.hop, self.n_fft = frame_sizes(sample_rate, win_ms, hop_ms, n_fft)
        self.sample_rate, self.n_mels, self.win_ms, self.hop_ms = int(sample_rate), int(n_mels), win_ms, hop_ms
        self.f_min, self.f_max = float(f_min), f_max
        self.norm_mean, self.norm_std = float(norm_mean), float(norm_std)

    def num_frames(self, num_samples: int) -> int:
        """Frames of a waveform of ``num_samples`` samples (:func:`num_frames_for`)."""
        return num_frames_for(num_samples, self.win, self.hop)

    def num_samples(self, num_frames: int) -> int:
        """Samples needed for ``num_frames`` frames (:func:`samples_for`)."""
        return samples_for(num_frames, self.win, self.hop)

    def spectrogram(self, waveform: Any) -> torch.Tensor:
        """The un-normalised log-mel ``[T, n_mels]`` of ``waveform``."""
        return log_mel(
            waveform, self.sample_rate, self.n_mels, self.win_ms, self.hop_ms, self.n_fft, self.f_min, self.f_max
        )

    def normalise(self, spec: torch.Tensor) -> torch.Tensor:
        return (spec - self.norm_mean) / self.norm_std

    def __call__(self, waveform: Any, num_frames: int | None = None, train: bool = False) -> torch.Tensor:
        x = _mono(waveform)
        if num_frames is not None:
            total = self.num_frames(x.shape[0])
            if total > num_frames:
                s = crop_start(total, num_frames, train) * self.hop
                x = x[s : s + self.num_samples(num_frames)]
        spec = self.spectrogram(x)
        if num_frames is not None:
            spec = fit_frames(spec, num_frames, train=False)
        return self.normalise(spec).unsqueeze(0).contiguous()

    def __repr__(self) -> str:
        return (
            f"LogMel(sample_rate={self.sample_rate}, n_mels={self.n_mels}, win={self.win}, hop={self.hop}, "
            f"n_fft={self.n_fft}, norm=({self.norm_mean:g}, {self.norm_std:g}))"
        )


__all__ = [
    "AUDIOSET_MEAN",
    "AUDIOSET_STD",
    "LOG_EPS",
    "LogMel",
    "crop_start",
    "fit_frames",
    "frame_sizes",
    "hz_to_mel",
    "log_mel",
    "mel_centres",
    "mel_filterbank",
    "mel_points",
    "mel_to_hz",
    "num_frames_for",
    "samples_for",
]
