"""A model's calibrated profile decides how later sessions offer tools, so a sandboxed command
must neither read nor rewrite it (claw_nb.calibrate.profile). Run inside bubblewrap, checked
from the host."""

from __future__ import annotations

from claw_nb.calibrate import ModelProfile, ProfileStore
from claw_nb.calibrate.profile import FormatResult
from tests.sandbox.kit import run


def test_a_command_can_neither_read_nor_write_the_model_profiles(area, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(area.outside / "config"))
    store = ProfileStore()
    result = FormatResult("native_auto", 4, 4, 0.5, 1.0, 400.0, 20.0, 0.5)
    store.save(ModelProfile("openai/m", "", "native_auto", "2026-12-07", 1, (result,)))
    before = store.path.read_bytes()
    res = run(
        area,
        f"cat {store.path}; ls -a {store.path.parent}; "
        f"echo '{{\"profiles\": {{}}}}' > {store.path}; echo done",
    )
    assert "done" in res.stdout
    assert "native_auto" not in res.stdout and "model_profiles" not in res.stdout
    assert store.path.read_bytes() == before
