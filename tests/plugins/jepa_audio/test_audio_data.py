"""Audio input pipeline of the jepa_audio plugin: log-mel features, synthetic sounds, WAV folders."""

from __future__ import annotations

import math
import pickle
import struct
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from jepa_audio.datasets import dataset_specs
from jepa_audio.features import (
    AUDIOSET_MEAN,
    AUDIOSET_STD,
    LOG_EPS,
    LogMel,
    crop_start,
    fit_frames,
    frame_sizes,
    log_mel,
    mel_centres,
    mel_filterbank,
    num_frames_for,
    samples_for,
)
from jepa_audio.synthetic import (
    KINDS,
    SyntheticSoundsConfig,
    SyntheticSoundsDataset,
    build_synthetic_sounds,
    render_sound,
)
from jepa_audio.wav_folder import (
    WavFolderConfig,
    WavFolderDataset,
    build_wav_folder,
    load_audio,
    read_wav,
    resample,
    scan_wavs,
)
from jepa_core.data import KeyedDataset
from jepa_core.errors import BadSampleError, DataError
from jepa_core.specs import DatasetSpec
from jepa_core.testing import check_dataset, check_dataset_splits

SR = 16000


def _specs() -> dict[str, DatasetSpec]:
    return {s.name: s for s in dataset_specs()}


def _tone(freq: float, seconds: float = 0.5, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


# ---------------------------------------------------------------------------- features


def test_frame_sizes_follow_the_millisecond_options() -> None:
    assert frame_sizes(16000) == (400, 160, 512)  # A-JEPA: 25 ms / 10 ms at 16 kHz
    assert frame_sizes(22050, 25, 10) == (551, 220, 1024)
    assert frame_sizes(16000, n_fft=1024) == (400, 160, 1024)
    with pytest.raises(ValueError, match="n_fft must be >= the window length"):
        frame_sizes(16000, n_fft=256)
    with pytest.raises(ValueError, match="window of 0"):
        frame_sizes(16000, win_ms=0.01)


@pytest.mark.parametrize("length", [400, 401, 559, 560, 4000, 16000])
def test_log_mel_frame_count_and_shape(length: int) -> None:
    x = torch.randn(length)
    spec = log_mel(x, SR, n_mels=40)
    expected = 1 + (length - 400) // 160
    assert spec.shape == (expected, 40) and spec.dtype == torch.float32
    assert num_frames_for(length, 400, 160) == expected
    assert num_frames_for(samples_for(expected, 400, 160), 400, 160) == expected


def test_ten_seconds_give_998_frames_of_128_bins() -> None:
    spec = log_mel(torch.zeros(10 * SR), SR)
    assert spec.shape == (998, 128)


def test_short_input_is_one_zero_padded_frame() -> None:
    x = torch.randn(100)
    spec = log_mel(x, SR, n_mels=16)
    assert spec.shape == (1, 16)
    assert torch.allclose(spec, log_mel(torch.cat([x, torch.zeros(300)]), SR, n_mels=16))


def test_frame_t_covers_exactly_samples_t_hop_to_t_hop_plus_win() -> None:
    """An impulse at sample k shows only in the frames whose window [t*hop, t*hop+win) holds k."""
    k = 1000
    x = torch.zeros(4000)
    x[k] = 1.0
    spec = log_mel(x, SR, n_mels=16)
    energy = spec.exp().sum(dim=1)
    win, hop = 400, 160
    covering = {t for t in range(spec.shape[0]) if t * hop <= k < t * hop + win}
    # the periodic Hann window is 0 only at its first sample, positive elsewhere
    lit = {t for t in range(spec.shape[0]) if energy[t] > 16 * LOG_EPS * 1.01}
    assert lit == covering, (lit, covering)


def test_multichannel_input_is_averaged_to_mono() -> None:
    a, b = torch.randn(3200), torch.randn(3200)
    stereo = log_mel(torch.stack([a, b]), SR, n_mels=32)
    assert torch.allclose(stereo, log_mel((a + b) / 2, SR, n_mels=32), atol=1e-5)
    assert torch.allclose(log_mel(np.stack([a.numpy(), b.numpy()]), SR, n_mels=32), stereo, atol=1e-5)


def test_pure_tone_peaks_in_the_mel_bin_with_the_nearest_centre() -> None:
    rng = np.random.default_rng(0)
    centres = mel_centres(64, SR)
    for f in np.exp(rng.uniform(np.log(150), np.log(7500), 24)):
        spec = log_mel(_tone(f, 0.25), SR, n_mels=64)
        assert int(spec.mean(0).argmax()) == int(np.abs(centres - f).argmin()), f"{f:.1f} Hz"
    centres = mel_centres(128, SR)  # A-JEPA's 128 bins: filters wider than an FFT bin from ~bin 30 up
    for m in (30, 50, 77, 100, 126):
        spec = log_mel(_tone(centres[m], 0.25), SR)
        assert int(spec.mean(0).argmax()) == m


def test_filterbank_triangles_sum_to_one_inside_the_band() -> None:
    fb = mel_filterbank(512, 64, SR)
    assert fb.shape == (257, 64) and fb.dtype == torch.float32
    assert float(fb.min()) >= 0.0 and float(fb.max()) <= 1.0 + 1e-6
    assert bool((fb.sum(0) > 0).all()), "a 64-bin filter holds no FFT bin"
    freqs = np.linspace(0, SR / 2, 257)
    centres = mel_centres(64, SR)
    inside = (freqs >= centres[0]) & (freqs <= centres[-1])
    assert torch.allclose(fb.sum(1)[torch.from_numpy(inside)], torch.ones(int(inside.sum())), atol=1e-5)
    peaks = fb.argmax(0).numpy()
    assert (np.diff(peaks) >= 0).all(), "filter peaks must rise with the mel index"
    assert np.abs(freqs[peaks] - centres).max() <= SR / 512, "each filter peaks at the FFT bin nearest its centre"
    # f_min / f_max bound the band: no weight outside it
    band = mel_filterbank(512, 32, SR, f_min=300.0, f_max=4000.0)
    outside = torch.from_numpy((freqs < 300.0) | (freqs > 4000.0))
    assert float(band[outside].abs().max()) == 0.0
    with pytest.raises(ValueError, match="f_max <= sample_rate / 2"):
        mel_filterbank(512, 32, SR, f_max=9000.0)


def test_silence_gives_the_finite_log_floor() -> None:
    spec = log_mel(torch.zeros(SR), SR)
    assert bool(torch.isfinite(spec).all())
    assert torch.allclose(spec, torch.full_like(spec, math.log(LOG_EPS)))
    x = LogMel()(torch.zeros(SR), num_frames=64)
    assert x.shape == (1, 64, 128) and bool(torch.isfinite(x).all())
    assert torch.allclose(x, torch.full_like(x, (math.log(LOG_EPS) - AUDIOSET_MEAN) / AUDIOSET_STD))


def test_fit_frames_crops_centred_for_eval_and_randomly_for_train() -> None:
    spec = torch.arange(100.0).view(50, 2)  # row t holds (2t, 2t+1)
    out = fit_frames(spec, 10, train=False)
    assert out.shape == (10, 2) and torch.equal(out, spec[20:30])
    starts = set()
    for seed in range(20):
        torch.manual_seed(seed)
        a = fit_frames(spec, 10, train=True)
        torch.manual_seed(seed)
        assert torch.equal(fit_frames(spec, 10, train=True), a), "the train crop must come from torch's RNG"
        s = int(a[0, 0]) // 2
        assert torch.equal(a, spec[s : s + 10])
        starts.add(s)
    assert len(starts) > 5 and min(starts) >= 0 and max(starts) <= 40
    assert torch.equal(fit_frames(spec, 50, train=True), spec)
    assert crop_start(50, 50, True) == 0 and crop_start(51, 50, False) == 0 and crop_start(52, 50, False) == 1


def test_fit_frames_pads_at_the_end_with_the_minimum() -> None:
    spec = torch.tensor([[3.0, 1.0], [2.0, 5.0], [4.0, -1.0]])
    out = fit_frames(spec, 7, train=True)
    assert out.shape == (7, 2)
    assert torch.equal(out[:3], spec) and bool((out[3:] == -1.0).all())
    assert bool((fit_frames(spec, 5, train=False, pad_value=0.0)[3:] == 0).all())


def test_logmel_front_end_crops_the_waveform_like_the_spectrogram() -> None:
    fe = LogMel(n_mels=24)
    x = torch.randn(SR)  # 98 frames
    full = fe.spectrogram(x)
    for train in (False, True):
        torch.manual_seed(3)
        got = fe(x, num_frames=40, train=train)
        torch.manual_seed(3)
        want = fe.normalise(fit_frames(full, 40, train=train)).unsqueeze(0)
        assert got.shape == (1, 40, 24) and torch.allclose(got, want, atol=1e-4)
    short = fe(x[:2000], num_frames=40)
    assert short.shape == (1, 40, 24)
    assert pickle.loads(pickle.dumps(fe)).n_mels == 24


# ---------------------------------------------------------------------------- synthetic sounds


def _small(split: str = "val", **kw) -> SyntheticSoundsDataset:
    cfg = SyntheticSoundsConfig(num_train=40, num_val=40, num_frames=96, n_mels=48, max_shift=8, **kw)
    return build_synthetic_sounds(cfg, split)


def test_synthetic_default_shape_dtype_and_normalisation() -> None:
    cfg = SyntheticSoundsConfig()
    assert (cfg.num_frames, cfg.n_mels, cfg.num_classes) == (256, 64, 8)
    assert (cfg.norm_mean, cfg.norm_std) == (AUDIOSET_MEAN, AUDIOSET_STD)
    ds = build_synthetic_sounds(cfg, "val")
    xs = torch.stack([ds[i][0] for i in range(8)])
    assert xs.shape == (8, 1, 256, 64) and xs.dtype == torch.float32
    assert bool(torch.isfinite(xs).all())
    assert abs(float(xs.mean())) < 0.5 and 0.4 < float(xs.std()) < 1.5, "inputs must be roughly standardised"
    assert [ds.classes[ds[i][1]] for i in range(3)] == ["tone", "harmonic", "chirp_up"]


def test_synthetic_is_a_pure_function_of_seed_split_index() -> None:
    a, b = _small(), _small()
    for i in (0, 5, 13):
        xa, ya = a[i]
        assert torch.equal(xa, a[i][0]) and torch.equal(xa, b[i][0]) and ya == b[i][1]
    other_seed = _small(seed=1)
    assert not torch.equal(a[5][0], other_seed[5][0])
    assert not torch.equal(_small("train_eval")[5][0], a[5][0]), "train and val must be different sounds"


def test_synthetic_labels_are_balanced_and_give_the_kind() -> None:
    ds = _small(num_classes=10)
    assert Counter(ds.label(i) for i in range(40)) == {k: 4 for k in range(10)}
    assert [ds[i][1] for i in (0, 9, 13)] == [0, 9, 3]
    assert all(ds.render(i).kind == KINDS[i % 10] for i in range(20))
    with pytest.raises(ValueError, match=r"num_classes must be in \[2, 10\]"):
        SyntheticSoundsConfig(num_classes=11)


def test_synthetic_parameters_vary_within_a_class() -> None:
    ds = _small()
    clips = [ds.render(i) for i in range(0, 40, 8)]  # five "tone" sounds
    assert {c.kind for c in clips} == {"tone"}
    for field in ("f0", "onset_s", "duration_s", "level_db", "snr_db"):
        values = [getattr(c, field) for c in clips]
        assert len(set(values)) == 5, field
    f0s = [c.f0 for c in clips]
    assert max(f0s) / min(f0s) > 1.5
    peaks = {int(ds.spectrogram(i).mean(0).argmax()) for i in range(0, 40, 8)}
    assert len(peaks) >= 3, "the class must not sit in one spectral bin"


def test_synthetic_draws_do_not_depend_on_the_label() -> None:
    clips = [render_sound(np.random.default_rng(7), k, 8000) for k in range(len(KINDS))]
    for field in ("f0", "ratio", "onset_s", "duration_s", "level_db", "snr_db"):
        assert len({getattr(c, field) for c in clips}) == 1, field
    before = int(clips[0].onset_s * SR)  # only the background sounds before the onset
    assert before > 100
    for c in clips[1:]:
        assert np.array_equal(c.waveform[:before], clips[0].waveform[:before]), c.kind
    for c in clips:
        event = c.waveform[int(c.onset_s * SR) + 200 : int((c.onset_s + c.duration_s) * SR) - 200]
        rms = np.sqrt(np.mean(np.square(event)))
        assert c.waveform.dtype == np.float32 and np.isfinite(c.waveform).all()
        assert abs(20 * np.log10(rms) - c.level_db) < 3.0, c.kind  # the event's RMS level


def _event(ds: SyntheticSoundsDataset, i: int) -> torch.Tensor:
    """The middle 80% of sound ``i``'s event in its full un-normalised log-mel."""
    c = ds.render(i)
    hop_s = ds.frontend.hop / ds.frontend.sample_rate
    a = int((c.onset_s + 0.1 * c.duration_s) / hop_s)
    b = int((c.onset_s + 0.9 * c.duration_s) / hop_s) - 2
    return ds.spectrogram(i)[a:b]


def _slope(y: torch.Tensor) -> float:
    t = torch.arange(len(y), dtype=torch.float32)
    y = y.float()
    return float(((t - t.mean()) * (y - y.mean())).sum() / ((t - t.mean()) ** 2).sum())


def test_chirps_rise_and_fall_and_tones_stay() -> None:
    ds = _small()
    for i in range(0, 40, 8):  # tone, chirp_up, chirp_down of five random draws each
        tone, up, down = (_event(ds, i + k) for k in (0, 2, 3))
        assert ds.render(i + 2).kind == "chirp_up" and ds.render(i + 3).kind == "chirp_down"
        assert _slope(up.argmax(1)) > 0.02 and _slope(down.argmax(1)) < -0.02
        assert abs(_slope(tone.argmax(1))) < 0.005


def test_tones_are_steady_where_noise_fluctuates() -> None:
    """At its loudest mel bin, a tone's log energy is constant over time; band noise's is not."""
    ds = _small()

    def peak_std(i: int) -> float:
        ev = _event(ds, i)
        return float(ev[:, int(ev.mean(0).argmax())].std())

    tones = [peak_std(i) for i in range(0, 40, 8)]
    noises = [peak_std(i + 6) for i in range(0, 40, 8)]
    assert ds.render(6).kind == "noise_band"
    assert max(tones) < 0.1 < 0.3 < min(noises), (tones, noises)
    tremolo = [float(torch.logsumexp(_event(ds, i + 4), 1).std()) for i in range(0, 40, 8)]
    assert min(tremolo) > 5 * max(float(torch.logsumexp(_event(ds, i), 1).std()) for i in range(0, 40, 8))


def test_synthetic_train_shifts_in_time_and_train_eval_is_centred() -> None:
    train, plain = _small("train"), _small("train_eval")
    full = plain.spectrogram(3)  # 96 + 2 * 8 frames
    assert full.shape == (112, 48)
    x, y = plain[3]
    assert torch.allclose(x[0], plain.frontend.normalise(full[8:104])) and y == train[3][1]
    shifts = set()
    for seed in range(12):
        torch.manual_seed(seed)
        a = train[3][0][0]
        starts = [s for s in range(17) if torch.allclose(a, plain.frontend.normalise(full[s : s + 96]))]
        assert len(starts) == 1
        shifts.add(starts[0])
    assert len(shifts) > 3
    no_aug_cfg = SyntheticSoundsConfig(num_train=4, num_frames=32, n_mels=16, augment=False)
    no_aug = build_synthetic_sounds(no_aug_cfg, "train")
    torch.manual_seed(0)
    a = no_aug[1][0]
    torch.manual_seed(1)
    assert torch.equal(no_aug[1][0], a)


def test_synthetic_under_the_keyed_loader_is_reproducible() -> None:
    keyed = KeyedDataset(_small("train"), seed=5)
    a = keyed[(0, 0, 0, 7)]
    b = keyed[(0, 0, 0, 7)]
    assert torch.equal(a[0], b[0]) and a[1] == b[1] == 7 % 8


def test_synthetic_spec_conforms_and_is_picklable() -> None:
    spec = _specs()["synthetic_sounds"]
    options = spec.example()
    check_dataset_splits(spec, options, name="dataset 'synthetic_sounds'")
    ds = spec.build(options, "train")
    assert len(ds) == 4 and ds[0][0].shape == (1, 32, 16)
    clone = pickle.loads(pickle.dumps(ds))
    torch.manual_seed(0)
    a = ds[1][0]
    torch.manual_seed(0)
    assert torch.equal(clone[1][0], a)


# ---------------------------------------------------------------------------- WAV folders


def _write_wav(path: Path, audio: np.ndarray, sr: int = SR, width: int = 2) -> Path:
    """Write float ``audio`` ``[L]`` or ``[C, L]`` in [-1, 1] as integer PCM of ``width`` bytes."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    scale = 2 ** (8 * width - 1)
    ints = np.clip(np.round(audio.T * scale), -scale, scale - 1).astype(np.int64)
    if width == 1:
        data = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        u = ints.reshape(-1) & 0xFFFFFF
        data = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        data = ints.astype(f"<i{width}").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(audio.shape[0])
        w.setsampwidth(width)
        w.setframerate(sr)
        w.writeframes(data)
    return path


def _write_raw_wav(
    path: Path, tag: int, data: bytes, channels: int = 1, sr: int = SR, bits: int = 16, sub_format: int = 1
) -> Path:
    """A RIFF/WAVE file with format ``tag`` (0xFFFE: WAVE_FORMAT_EXTENSIBLE with ``sub_format``:
    1 PCM, 3 IEEE float)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, sr, sr * block, block, bits)
    if tag == 0xFFFE:
        guid = struct.pack("<H", sub_format) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_read_wav_integer_pcm_widths(tmp_path: Path, width: int) -> None:
    x = np.array([0.0, 0.5, -0.5, 0.25, -1.0, 0.999])
    audio, sr = read_wav(str(_write_wav(tmp_path / "a.wav", x, sr=8000, width=width)))
    assert sr == 8000 and audio.shape == (1, 6) and audio.dtype == np.float32
    assert np.allclose(audio[0], x, atol=2.0 / 2 ** (8 * width - 1) + 1e-7)
    assert audio.min() >= -1.0 and audio.max() < 1.0


def test_read_wav_stereo_and_mono_mix(tmp_path: Path) -> None:
    left, right = _tone(440, 0.1), _tone(440, 0.1, amp=0.1)
    path = _write_wav(tmp_path / "s.wav", np.stack([left, right]))
    audio, _ = read_wav(str(path))
    assert audio.shape == (2, len(left))
    mono = load_audio(str(path), SR)
    assert mono.shape == (len(left),) and torch.allclose(mono, torch.from_numpy((left + right) / 2), atol=1e-4)


def test_read_wav_extensible_pcm_header(tmp_path: Path) -> None:
    ints = np.array([0, 16384, -16384, 32767], dtype="<i2")
    audio, sr = read_wav(str(_write_raw_wav(tmp_path / "x.wav", 0xFFFE, ints.tobytes())))
    assert sr == SR and np.allclose(audio[0], ints / 32768.0)


def test_resampling_keeps_duration_and_pitch(tmp_path: Path) -> None:
    x = torch.from_numpy(_tone(1000, 1.0, sr=8000))
    y = resample(x, 8000, SR)
    assert y.shape == (SR,)
    assert resample(x, 8000, 8000) is x
    ref = log_mel(_tone(1000, 1.0), SR, n_mels=64).mean(0).argmax()
    assert int(log_mel(y, SR, n_mels=64).mean(0).argmax()) == int(ref)
    # a file at another rate is resampled on load
    loaded = load_audio(str(_write_wav(tmp_path / "8k.wav", _tone(1000, 0.5, sr=8000), sr=8000)), SR)
    assert loaded.shape == (SR // 2,)
    assert int(log_mel(loaded, SR, n_mels=64).mean(0).argmax()) == int(ref)


@pytest.mark.parametrize(("bits", "dtype"), [(32, "<f4"), (64, "<f8")])
def test_read_wav_ieee_float_plain_and_extensible_stereo(tmp_path: Path, bits: int, dtype: str) -> None:
    """Floating-point WAVs (what many Python pipelines write) are read as stored, not skipped."""
    left, right = np.array([0.0, 0.5, -0.25, 1.5]), np.array([0.125, -1.0, 0.75, 0.0])
    data = np.stack([left, right], axis=1).astype(dtype).tobytes()  # interleaved frames
    for tag in (3, 0xFFFE):
        path = _write_raw_wav(tmp_path / f"{tag}.wav", tag, data, channels=2, bits=bits, sub_format=3)
        audio, sr = read_wav(str(path))
        assert sr == SR and audio.dtype == np.float32 and np.array_equal(audio, np.stack([left, right]))
    assert np.allclose(load_audio(str(path), SR).numpy(), (left + right) / 2)


def test_bad_files_raise_bad_sample_error_naming_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not a wav file at all")
    adpcm = _write_raw_wav(tmp_path / "adpcm.wav", 2, np.zeros(16, dtype="<i2").tobytes(), bits=4)
    nan_wav = _write_raw_wav(tmp_path / "nan.wav", 3, np.array([0.0, np.nan], dtype="<f4").tobytes(), bits=32)
    half = _write_raw_wav(tmp_path / "half.wav", 3, np.zeros(4, dtype="<f2").tobytes(), bits=16)
    empty = _write_wav(tmp_path / "empty.wav", np.zeros((1, 0)))
    for path in (garbage, adpcm, nan_wav, half, empty, tmp_path / "missing.wav"):
        with pytest.raises(BadSampleError, match=path.name):
            read_wav(str(path))
    ds = WavFolderDataset(None, LogMel(n_mels=16), num_frames=8, samples=[(str(adpcm), -1)])
    with pytest.raises(BadSampleError, match="neither integer PCM nor IEEE floating point"):
        ds[0]
    with pytest.raises(BadSampleError, match="NaN or infinite samples"):
        read_wav(str(nan_wav))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(_write_wav(tmp_path / "whole.wav", _tone(300, 0.1)).read_bytes()[:30])
    with pytest.raises(BadSampleError, match=r"'.*cut\.wav': EOFError: the file ends early$"):
        read_wav(str(cut))


def test_samples_whose_spectrogram_overflows_are_a_bad_sample_naming_the_file(tmp_path: Path) -> None:
    huge = _write_raw_wav(tmp_path / "huge.wav", 3, np.full(4000, 1e30, dtype="<f4").tobytes(), bits=32)
    loud = _write_raw_wav(tmp_path / "loud.wav", 3, np.full(4000, 8.0, dtype="<f4").tobytes(), bits=32)
    ds = WavFolderDataset(None, LogMel(n_mels=16), num_frames=8, samples=[(str(huge), 0), (str(loud), 1)])
    with pytest.raises(
        BadSampleError, match=r"'.*huge\.wav' gives a non-finite log-mel spectrogram: its samples reach 1e\+30"
    ):
        ds[0]
    x, y = ds[1]  # loud but finite: kept as stored
    assert bool(torch.isfinite(x).all()) and y == 1


def _class_tree(root: Path) -> None:
    _write_wav(root / "dog" / "a.wav", _tone(300, 0.6))
    _write_wav(root / "dog" / "nested" / "b.wav", _tone(350, 0.2, sr=8000), sr=8000, width=1)
    _write_wav(root / "rain" / "c.WAV", np.stack([_tone(2000, 0.4), _tone(2500, 0.4)]), width=3)
    _write_wav(root / "rain" / "d.wav", _tone(3000, 0.05))  # shorter than num_frames: padded
    (root / "rain" / "notes.txt").write_text("not audio")
    (root / "zoo").mkdir()  # an empty class keeps its index


def test_class_layout_labels_and_shapes(tmp_path: Path) -> None:
    _class_tree(tmp_path)
    classes, samples = scan_wavs(tmp_path)
    assert classes == ["dog", "rain", "zoo"]
    assert [(Path(p).name, y) for p, y in samples] == [("a.wav", 0), ("b.wav", 0), ("c.WAV", 1), ("d.wav", 1)]
    cfg = WavFolderConfig(root=str(tmp_path), n_mels=32, num_frames=30)
    ds = build_wav_folder(cfg, "train_eval")
    for i in range(4):
        x, y = ds[i]
        assert x.shape == (1, 30, 32) and x.dtype == torch.float32 and bool(torch.isfinite(x).all())
        assert y == samples[i][1]
    short = ds[3][0][0]  # 0.05 s = 3 frames, then 27 pad rows at its minimum
    assert torch.equal(short[3:], short[3:4].expand(27, -1)) and float(short[3:].max()) == float(short[:3].min())
    assert int(ds[0][0][0].mean(0).argmax()) != int(ds[2][0][0].mean(0).argmax())


def test_flat_layout_is_unlabelled(tmp_path: Path) -> None:
    for k in range(3):
        _write_wav(tmp_path / f"clip{k}.wav", _tone(500 + 100 * k, 0.3))
    ds = build_wav_folder(WavFolderConfig(root=str(tmp_path), n_mels=16, num_frames=20), "train")
    assert ds.classes == [] and [ds[i][1] for i in range(3)] == [-1, -1, -1]


def test_train_crops_randomly_and_eval_centred(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _write_wav(tmp_path / "long.wav", rng.uniform(-0.5, 0.5, SR))  # 98 frames
    cfg = WavFolderConfig(root=str(tmp_path), n_mels=16, num_frames=20)
    train, plain = build_wav_folder(cfg, "train"), build_wav_folder(cfg, "train_eval")
    full = plain.frontend.normalise(plain.frontend.spectrogram(plain.waveform(0)))
    assert torch.allclose(plain[0][0][0], full[39:59], atol=1e-4)
    torch.manual_seed(0)
    a = train[0][0]
    torch.manual_seed(0)
    assert torch.equal(train[0][0], a)
    crops = set()
    for seed in range(8):
        torch.manual_seed(seed)
        crops.add(train[0][0].sum().item())
    assert len(crops) > 4, "the train crop must move"


def test_root_errors_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs a data path"):
        scan_wavs(None)
    with pytest.raises(DataError, match="does not exist"):
        scan_wavs(tmp_path / "nope")
    with pytest.raises(DataError, match="no WAV files found"):
        scan_wavs(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DataError, match="no WAV files found"):
        build_wav_folder(WavFolderConfig(root=str(tmp_path)), "train")
    mixed = tmp_path / "mixed"
    _write_wav(mixed / "top.wav", _tone(440, 0.1))
    _write_wav(mixed / "cls" / "x.wav", _tone(440, 0.1))
    with pytest.raises(DataError, match="both WAV files and sub-folders"):
        scan_wavs(mixed)


def test_config_validators_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got 1.0"):
        WavFolderConfig(val_fraction=1.0)
    with pytest.raises(ValueError, match="n_mels must be > 0, got 0"):
        WavFolderConfig(n_mels=0)
    with pytest.raises(ValueError, match="norm_std must be > 0"):
        WavFolderConfig(norm_std=0.0)


def test_val_fraction_holds_out_a_fixed_disjoint_subset(tmp_path: Path) -> None:
    for k in range(10):
        _write_wav(tmp_path / ("a" if k % 2 else "b") / f"{k}.wav", _tone(300 + 50 * k, 0.1))
    cfg = WavFolderConfig(root=str(tmp_path), val_fraction=0.3, n_mels=16, num_frames=8)
    train, val = build_wav_folder(cfg, "train"), build_wav_folder(cfg, "val")
    tr, va = {p for p, _ in train.samples}, {p for p, _ in val.samples}
    assert len(va) == 3 and len(tr) == 7 and not tr & va
    assert {p for p, _ in build_wav_folder(cfg, "train_eval").samples} == tr
    assert {p for p, _ in build_wav_folder(cfg, "val").samples} == va
    with pytest.raises(DataError, match="val_root or data.val_fraction"):
        build_wav_folder(WavFolderConfig(root=str(tmp_path)), "val")


def test_val_root_uses_the_training_classes(tmp_path: Path) -> None:
    _write_wav(tmp_path / "train" / "a" / "1.wav", _tone(300, 0.1))
    _write_wav(tmp_path / "train" / "b" / "1.wav", _tone(300, 0.1))
    _write_wav(tmp_path / "val" / "b" / "1.wav", _tone(300, 0.1))
    cfg = WavFolderConfig(root=str(tmp_path / "train"), val_root=str(tmp_path / "val"), n_mels=16, num_frames=8)
    val = build_wav_folder(cfg, "val")
    assert val.classes == ["a", "b"] and val[0][1] == 1


def test_bad_file_is_skipped_by_the_keyed_loader(tmp_path: Path) -> None:
    _write_wav(tmp_path / "a.wav", _tone(300, 0.1))
    (tmp_path / "b.wav").write_bytes(b"RIFF....WAVEjunk")
    ds = build_wav_folder(WavFolderConfig(root=str(tmp_path), n_mels=16, num_frames=8), "train")
    x, y, _, bad = KeyedDataset(ds, seed=0)[(0, 0, 0, 1)]
    assert x.shape == (1, 8, 16) and len(bad) == 1 and "b.wav" in bad[0]


def test_wav_folder_spec_conforms_and_is_picklable(tmp_path: Path) -> None:
    _class_tree(tmp_path)
    spec = _specs()["wav_folder"]
    assert spec.example is None
    options = spec.config_type(root=str(tmp_path), n_mels=16, num_frames=24, val_fraction=0.5)
    check_dataset_splits(spec, options, name="dataset 'wav_folder'")
    train = spec.build(options, "train")
    torch.manual_seed(0)
    x, y = train[0]
    assert x.shape == (1, 24, 16) and y in (0, 1)
    check_dataset(pickle.loads(pickle.dumps(train)))
    defaults = WavFolderConfig()
    assert (defaults.sample_rate, defaults.n_mels, defaults.num_frames) == (16000, 128, 1024)
    assert (defaults.win_ms, defaults.hop_ms, defaults.norm_mean, defaults.norm_std) == (25.0, 10.0, -4.27, 4.57)
