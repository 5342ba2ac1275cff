"""Console text survives any output encoding: undecodable file-name bytes and characters the
stream cannot encode are escaped, never a UnicodeEncodeError; CLI warnings are one line."""

from __future__ import annotations

import io
import warnings

import pytest
import torch

from jepa_core.bad_samples import BadSampleTally
from jepa_core.console import echo, one_line_warnings, printable
from jepa_core.data import BadSample
from jepa_core.progress import ProgressLogger

NAME = "unreadable image 'data/caf\u00e9-\udcff.png'"  # a non-UTF-8 byte (0xff) as os.listdir gives it


@pytest.mark.parametrize(
    "encoding, expected",
    [
        ("utf-8", "unreadable image 'data/caf\u00e9-\\xff.png'"),
        ("ascii", "unreadable image 'data/caf\\xe9-\\xff.png'"),
        ("latin-1", "unreadable image 'data/caf\u00e9-\\xff.png'"),
    ],
)
def test_printable_escapes_what_the_encoding_cannot_show(encoding, expected):
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")
    assert printable(NAME, stream) == expected
    echo(NAME, stream)  # would raise UnicodeEncodeError with print()
    stream.seek(0)
    assert stream.read() == expected + "\n"


def test_skipped_sample_lines_print_under_a_strict_encoding():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    tally = BadSampleTally()
    logger = ProgressLogger(total_steps=10, log_every=10, stream=stream, bad_samples=tally)
    trainer = type("T", (), {"step": 1, "epoch": 0, "first_nonfinite_step": torch.tensor(-1)})()
    out = type(
        "O",
        (),
        {
            "loss": torch.tensor(0.1),
            "batch_size": 4,
            "bad_samples": (BadSample(NAME, sample_index=0, drawn=True),),
            "lr": 0.0,
            "weight_decay": 0.0,
            "momentum": 0.0,
            "grad_norm": torch.tensor(0.0),
            "step": 0,
        },
    )()
    tally.on_step_end(trainer, out)
    logger.on_step_end(trainer, out)
    stream.seek(0)
    assert "skipped sample 1: unreadable image 'data/caf\\xe9-\\xff.png'" in stream.read()


def test_warnings_print_as_one_line_inside_the_cli():
    before = warnings.formatwarning
    with one_line_warnings():
        text = warnings.formatwarning(UserWarning("3 files in '\udcff' are reached twice"), UserWarning, "x.py", 1)
    assert text == "warning: 3 files in '\\xff' are reached twice\n"
    assert warnings.formatwarning is before
    with pytest.warns(UserWarning, match="still recorded"), one_line_warnings():
        warnings.warn("still recorded", stacklevel=1)


def test_a_console_that_is_gone_is_sent_to_the_null_device_and_other_write_errors_still_raise():
    import errno
    import os

    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    os.close(read_end)  # the reader is gone: writes fail with EPIPE
    try:
        echo("step 1", stream)  # no error
        assert os.path.samefile(f"/proc/self/fd/{stream.fileno()}", os.devnull) or not os.path.exists("/proc/self/fd")
        echo("step 2", stream)  # now written to the null device
    finally:
        stream.close()

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        echo("step 1", FullDisk())
