"""Dataset specs of the audio plugin: ``wav_folder`` and ``synthetic_sounds``.

Both give ``(spectrogram, label)`` pairs, a spectrogram being a normalised log-mel float tensor
``[1, T, F]`` = (channel, time frames, mel bins): TIME is the height axis (see
:mod:`jepa_audio.features`).

Example::

    specs = {s.name: s for s in dataset_specs()}
    ds = specs["synthetic_sounds"].build(SyntheticSoundsConfig(), "val")
    x, y = ds[0]              # tensor [1, 256, 64], label 0 ("tone")
"""

from __future__ import annotations

from jepa_audio.synthetic import SyntheticSoundsConfig, build_synthetic_sounds
from jepa_audio.wav_folder import WavFolderConfig, build_wav_folder
from jepa_core.specs import DatasetSpec


def dataset_specs() -> list[DatasetSpec]:
    """The audio datasets this plugin registers."""
    return [
        DatasetSpec(
            sample_noun="clips",
            name="wav_folder",
            config_type=WavFolderConfig,
            build=build_wav_folder,
            description="WAV clips as log-mel spectrograms [1, T, F]: root/<class>/**/*.wav or root/*.wav (labels -1)",
            example=None,  # needs WAV files: tests/plugins/jepa_audio/test_audio_data.py checks it on a tmp folder
        ),
        DatasetSpec(
            sample_noun="clips",
            name="synthetic_sounds",
            config_type=SyntheticSoundsConfig,
            build=build_synthetic_sounds,
            description="synthetic sound events (tones, chirps, clicks, noise bands...) over background "
            "noise as log-mel spectrograms, class = sound kind (no files needed)",
            example=lambda: SyntheticSoundsConfig(num_train=4, num_val=4, num_frames=32, n_mels=16, max_shift=4),
        ),
    ]
