"""A dataset of PCM WAV files: one sub-folder per class, or a flat folder of unlabelled clips.

Layouts accepted under ``root`` (as ``image_folder``):

* class sub-folders ``root/<class>/**/<clip>.wav``: labels are indices into the sorted
  sub-folder names (an empty sub-folder keeps its index, so two roots with the same folders
  agree);
* a flat folder ``root/<clip>.wav``: every label is ``-1``.

Files are read with Python's stdlib :mod:`wave` (no audio library needed): integer PCM of 8
(unsigned), 16, 24 or 32 bits, any channel count; IEEE floating point of 32 or 64 bits and
WAVE_FORMAT_EXTENSIBLE headers whose sub-format is either are read by a small RIFF reader where
``wave`` rejects them. Integer samples become floats in [-1, 1) (``x / 2^(bits-1)``),
floating-point ones stay as stored; channels are averaged to mono. A file at another sample
rate is RESAMPLED to ``sample_rate`` by linear interpolation
(``torch.nn.functional.interpolate``, no anti-alias filter: content above the new Nyquist folds
back, so resample offline when quality matters). Compressed or corrupt files, files without a
single sample, floating-point files holding NaN or infinite samples and files whose samples are
so large that their log-mel spectrogram overflows raise
:class:`~jepa_core.errors.BadSampleError` naming the file (the loader then skips them).

Each sample is a normalised log-mel ``[1, num_frames, n_mels]`` (see
:mod:`jepa_audio.features`; default 1024 x 128, A-JEPA's 10 s at 16 kHz). A longer clip is
cropped in time: at a random frame (torch's global RNG) in the train split, centred in
``train_eval`` / ``val``; a shorter one is padded at the end with its own quietest level.

Example::

    ds = build_wav_folder(WavFolderConfig(root="data/esc50", val_fraction=0.2), "train")
    x, y = ds[0]              # tensor [1, 1024, 128], int
"""

from __future__ import annotations

import os
import struct
import wave

import attrs
import numpy as np
import torch

from jepa_audio.features import AUDIOSET_MEAN, AUDIOSET_STD, LogMel
from jepa_core.config import positive
from jepa_core.errors import BadSampleError, DataError
from jepa_core.folders import check_fraction, class_names, scan_class_folders, split_holdout
from jepa_core.specs import SPLITS
from jepa_core.validators import path_or_none

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".wave")
_PCM, _IEEE_FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


@attrs.frozen(kw_only=True)
class WavFolderConfig:
    """Options of the ``wav_folder`` dataset.

    ``val_root`` holds the val split; without it, ``val_fraction > 0`` holds out that fraction
    of ``root`` (a fixed, seeded choice; the train split then excludes it). When ``val_root``
    is set, ``val_fraction`` is ignored. ``norm_mean`` / ``norm_std`` normalise the natural-log
    mel energies (defaults: AudioSet's, as AST).
    """

    root: str | None = attrs.field(default=None, validator=path_or_none)
    val_root: str | None = attrs.field(default=None, validator=path_or_none)
    val_fraction: float = attrs.field(default=0.0, validator=check_fraction)
    sample_rate: int = attrs.field(default=16000, validator=positive)
    n_mels: int = attrs.field(default=128, validator=positive)
    num_frames: int = attrs.field(default=1024, validator=positive)
    win_ms: float = attrs.field(default=25.0, validator=positive)
    hop_ms: float = attrs.field(default=10.0, validator=positive)
    norm_mean: float = AUDIOSET_MEAN
    norm_std: float = attrs.field(default=AUDIOSET_STD, validator=positive)

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


# ---------------------------------------------------------------------------- reading
def _pcm_to_float(data: bytes, width: int, channels: int) -> np.ndarray:
    """Little-endian integer PCM bytes -> float32 ``[channels, frames]`` in [-1, 1)."""
    frames = len(data) // (width * channels)
    data = data[: frames * width * channels]  # a truncated last frame is dropped
    if width == 1:
        x = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = (np.frombuffer(data, dtype="<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        raise ValueError(f"{8 * width}-bit samples are not supported (8, 16, 24 or 32-bit integer PCM)")
    return x.reshape(frames, channels).T


def _float_to_float(data: bytes, width: int, channels: int) -> np.ndarray:
    """Little-endian IEEE float bytes (32 or 64 bits) -> float32 ``[channels, frames]``, values as
    stored; a NaN or infinite sample is a ValueError."""
    if width not in (4, 8):
        raise ValueError(f"{8 * width}-bit floating-point samples are not supported (32 or 64-bit)")
    frames = len(data) // (width * channels)
    x = np.frombuffer(data[: frames * width * channels], dtype="<f4" if width == 4 else "<f8").astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError("it holds NaN or infinite samples")
    return x.reshape(frames, channels).T


def _read_riff(path: str) -> tuple[np.ndarray, int]:
    """A minimal RIFF/WAVE reader for what :mod:`wave` does not read: IEEE floating-point files and
    WAVE_FORMAT_EXTENSIBLE headers (with a PCM or floating-point sub-format)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError("not a RIFF/WAVE file")
        fmt = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise ValueError("no data chunk")
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = f.read(size)
                if size % 2:
                    f.read(1)
            elif cid == b"data":
                if fmt is None:
                    raise ValueError("data chunk before the fmt chunk")
                data = f.read(size)
                break
            else:
                f.seek(size + size % 2, os.SEEK_CUR)
    if len(fmt) < 16:
        raise ValueError("fmt chunk too short")
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE:
        if len(fmt) < 26:
            raise ValueError("extensible fmt chunk too short")
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the sub-format GUID
    if tag not in (_PCM, _IEEE_FLOAT):
        raise ValueError(
            f"format tag {tag:#x} is neither integer PCM nor IEEE floating point (compressed WAVs are not read)"
        )
    if channels < 1 or rate < 1 or block < 1:
        raise ValueError(f"bad header ({channels} channels, {rate} Hz)")
    decode = _pcm_to_float if tag == _PCM else _float_to_float
    return decode(data, block // channels, channels), rate


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """Read a WAV file as ``(float32 [channels, frames], sample_rate)``: integer PCM in [-1, 1),
    floating point as stored.

    Any failure (not a WAV, compressed, corrupt, no sample, a non-finite float) is a
    :class:`BadSampleError` naming the file.
    """
    try:
        try:
            with wave.open(path, "rb") as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                data = w.readframes(w.getnframes())
            audio = _pcm_to_float(data, width, channels)
        except wave.Error as err:
            if "unknown" not in str(err):  # "unknown format: 3", "unknown extended format: ..." (3.12+)
                raise
            audio, rate = _read_riff(path)  # floating point, WAVE_FORMAT_EXTENSIBLE (compressed: raises)
        if audio.shape[1] == 0:
            raise ValueError("it holds no audio samples")
    except Exception as err:  # noqa: BLE001 - any decoding failure means this one file is bad
        reason = "the file ends early" if isinstance(err, EOFError) and not str(err) else str(err)
        raise BadSampleError(f"unreadable WAV file '{path}': {type(err).__name__}: {reason}") from err
    return audio, rate


def resample(waveform: torch.Tensor, from_rate: int, to_rate: int) -> torch.Tensor:
    """Linear-interpolation resampling of ``[L]`` (no anti-alias filter); same rate: unchanged.

    The output has ``round(L * to_rate / from_rate)`` samples (at least 1).
    """
    if from_rate == to_rate:
        return waveform
    n = max(1, int(round(waveform.shape[-1] * to_rate / from_rate)))
    return torch.nn.functional.interpolate(waveform.view(1, 1, -1), size=n, mode="linear", align_corners=False).view(-1)


def load_audio(path: str, sample_rate: int) -> torch.Tensor:
    """Mono float32 waveform ``[L]`` of ``path`` at ``sample_rate`` (channels averaged, then
    resampled); unreadable files raise :class:`BadSampleError`."""
    audio, rate = read_wav(path)
    return resample(torch.from_numpy(audio.mean(axis=0)), rate, sample_rate)


# ---------------------------------------------------------------------------- scanning
def scan_wavs(
    root: str | os.PathLike | None, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[str, int]]]:
    """List ``(classes, samples)`` of ``root``; ``classes`` fixes the label order (e.g. train's).

    Raises :class:`DataError` for a missing root, a root mixing WAV files and sub-folders, a
    class not in ``classes``, or no WAV file at all (see :func:`jepa_core.folders.scan_class_folders`).
    """
    return scan_class_folders(root, AUDIO_EXTENSIONS, dataset="wav_folder", noun="WAV files", classes=classes)


# ---------------------------------------------------------------------------- dataset
class WavFolderDataset:
    """Map-style dataset of ``(log-mel [1, num_frames, n_mels], label)`` over WAV files.

    ``samples`` (a list of ``(path, label)``) overrides the scan, e.g. for a held-out subset.
    ``random_crop`` picks the train window (random) or the eval one (centred).

    Example::

        ds = WavFolderDataset("data/train", frontend=LogMel(n_mels=128), num_frames=1024)
        ds.classes, ds.samples[0]     # (['dog', 'rain'], ('data/train/dog/1-100.wav', 0))
    """

    def __init__(
        self,
        root: str | os.PathLike | None,
        frontend: LogMel | None = None,
        *,
        num_frames: int = 1024,
        random_crop: bool = False,
        classes: list[str] | None = None,
        samples: list[tuple[str, int]] | None = None,
    ) -> None:
        if samples is None:
            classes, samples = scan_wavs(root, classes)
        self.root = None if root is None else os.fspath(root)
        self.classes: list[str] = list(classes or [])
        self.samples: list[tuple[str, int]] = list(samples)
        self.frontend = frontend if frontend is not None else LogMel()
        self.num_frames, self.random_crop = num_frames, random_crop

    def __len__(self) -> int:
        return len(self.samples)

    def waveform(self, index: int) -> torch.Tensor:
        """The mono waveform of sample ``index`` at the front end's sample rate."""
        return load_audio(self.samples[index][0], self.frontend.sample_rate)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        waveform = self.waveform(index)
        x = self.frontend(waveform, num_frames=self.num_frames, train=self.random_crop)
        if not bool(torch.isfinite(x).all()):  # samples so large that their power overflows
            peak = float(waveform.abs().max())
            raise BadSampleError(
                f"WAV file '{path}' gives a non-finite log-mel spectrogram: its samples reach {peak:g}, "
                "where audio lies within [-1, 1]"
            )
        return x, label


def build_wav_folder(cfg: WavFolderConfig, split: str) -> WavFolderDataset:
    """Build a split described by ``cfg`` (see :class:`WavFolderConfig`); ``train_eval`` is the
    train clips with the centred crop (for probes)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    fe = cfg.frontend()
    if split == "val" and cfg.val_root is not None:
        train_classes = None
        if cfg.root is not None and os.path.isdir(cfg.root):
            train_classes = class_names(cfg.root) or None
        return WavFolderDataset(cfg.val_root, fe, num_frames=cfg.num_frames, classes=train_classes)
    if split == "val" and cfg.val_fraction <= 0:
        raise DataError("a val split needs data.val_root or data.val_fraction > 0; neither is set.")
    classes, samples = scan_wavs(cfg.root)
    if cfg.val_fraction > 0 and cfg.val_root is None:
        train_idx, val_idx = split_holdout(len(samples), cfg.val_fraction, what="clip")
        samples = [samples[i] for i in (val_idx if split == "val" else train_idx)]
    return WavFolderDataset(
        cfg.root, fe, num_frames=cfg.num_frames, random_crop=split == "train", classes=classes, samples=samples
    )


__all__ = [
    "AUDIO_EXTENSIONS",
    "WavFolderConfig",
    "WavFolderDataset",
    "build_wav_folder",
    "class_names",
    "load_audio",
    "read_wav",
    "resample",
    "scan_wavs",
    "split_holdout",
]
