"""Model profiles: the call format calibration chose for a model/server pair, kept for later.

The file is `model_profiles.json` in the user's config folder (`claw_nb.user_dirs`), outside
every workspace; the sandbox hides that folder from commands, as it hides the approvals beside
it. It is still read as data that may be damaged: a regular file (not a link), at most
`MAX_PROFILE_BYTES`, and every field checked; an entry that does not check out is ignored.

Settings win: `apply_profile` changes only what the user did not set (`explicit_settings`).
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import asdict, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from claw_nb.calibrate.formats import FORMAT_NAMES, format_named
from claw_nb.config import ClawConfig
from claw_nb.records import record
from claw_nb.untrusted import read_regular_file
from claw_nb.user_dirs import config_dir, save_json

PROFILE_FILE = "model_profiles.json"
MAX_PROFILE_BYTES = 1 << 20
MAX_PROFILES = 500
MAX_TEXT = 300  # a model name, an endpoint, an error note
EMBEDDED = "embedded"  # the endpoint of claw_nb's own server (its port changes every start)
_lock = threading.Lock()


@record(frozen=True)
class FormatResult:
    """What one call format scored: valid calls out of requests, its Wilson interval, and the
    mean tokens and seconds of a request; `error` when the server refused the format."""

    format: str
    requests: int
    valid: int
    low: float
    high: float
    prompt_tokens: float
    completion_tokens: float
    seconds: float
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.valid / self.requests if self.requests else 0.0


@record(frozen=True)
class ModelProfile:
    """The chosen format for one model at one endpoint, with what it was chosen from."""

    model: str
    endpoint: str
    chosen: str
    created: str  # ISO date and time
    repeats: int
    results: tuple[FormatResult, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.model} @ {self.endpoint}"

    @property
    def useful(self) -> bool:
        """Whether the chosen format made any valid call (else there is nothing to apply)."""
        best = self.result(self.chosen)
        return best is not None and best.valid > 0

    def result(self, name: str) -> FormatResult | None:
        return next((r for r in self.results if r.format == name), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["results"] = [asdict(r) for r in self.results]
        return data


def endpoint_of(config: ClawConfig) -> str:
    """Where `config`'s requests go, as a profile names it: `embedded` for claw_nb's own server
    (a new port every start), else the URL without a trailing slash ('' for a provider's own)."""
    base = (config.effective_api_base or "").strip().rstrip("/")
    if not base:
        return ""
    from claw_nb.model import embedded

    if any(s.api_base.rstrip("/") == base for s in embedded.running_servers()):
        return EMBEDDED
    parts = urlsplit(base if "://" in base else f"http://{base}")
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def profile_key(config: ClawConfig) -> str:
    return f"{config.model} @ {endpoint_of(config)}"


class ProfileStore:
    """The profiles file: read on every lookup (bounded, checked), written atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / PROFILE_FILE

    def all(self) -> dict[str, ModelProfile]:
        raw = read_regular_file(self.path, max_bytes=MAX_PROFILE_BYTES + 1)
        if not raw or len(raw) > MAX_PROFILE_BYTES:
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
        entries = data.get("profiles") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return {}
        out: dict[str, ModelProfile] = {}
        for key, entry in list(entries.items())[:MAX_PROFILES]:
            profile = _checked(entry)
            if profile is not None and profile.key == key:
                out[key] = profile
        return out

    def get(self, config: ClawConfig) -> ModelProfile | None:
        if not os.path.lexists(self.path):
            return None
        return self.all().get(profile_key(config))

    def save(self, profile: ModelProfile) -> None:
        with _lock:
            entries = {k: p.to_json() for k, p in self.all().items()}
            entries[profile.key] = profile.to_json()
            save_json(self.path, {"profiles": entries}, temp_prefix=".profiles-")


def _text(value: Any, allowed: tuple[str, ...] | None = None) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\n" in value:
        return None
    return value if allowed is None or value in allowed else None


def _number(value: Any, low: float = 0.0, high: float = 1e9) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and low <= value <= high else None


def _checked_result(entry: Any) -> FormatResult | None:
    if not isinstance(entry, dict):
        return None
    name = _text(entry.get("format"), FORMAT_NAMES)
    requests, valid = entry.get("requests"), entry.get("valid")
    if name is None or not isinstance(requests, int) or not isinstance(valid, int):
        return None
    if isinstance(requests, bool) or isinstance(valid, bool) or not 0 <= valid <= requests <= 1e6:
        return None
    numbers = [
        _number(entry.get("low"), 0, 1),
        _number(entry.get("high"), 0, 1),
        _number(entry.get("prompt_tokens")),
        _number(entry.get("completion_tokens")),
        _number(entry.get("seconds")),
    ]
    if any(n is None for n in numbers):
        return None
    error = entry.get("error")
    if error is not None and _text(error) is None:
        return None
    return FormatResult(name, requests, valid, *numbers, error=error)  # type: ignore[arg-type]


def _checked(entry: Any) -> ModelProfile | None:
    """A profile from the file's JSON when every field is what calibration writes, else None."""
    if not isinstance(entry, dict):
        return None
    model, endpoint = _text(entry.get("model")), _text(entry.get("endpoint"))
    chosen, created = _text(entry.get("chosen"), FORMAT_NAMES), _text(entry.get("created"))
    repeats, results = entry.get("repeats"), entry.get("results")
    if None in (model, endpoint, chosen, created) or not isinstance(results, list):
        return None
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 0 < repeats <= 1000:
        return None
    checked = [_checked_result(r) for r in results[: len(FORMAT_NAMES)]]
    if any(r is None for r in checked):
        return None
    return ModelProfile(model, endpoint, chosen, created, repeats, tuple(checked))  # type: ignore[arg-type]


def apply_profile(config: ClawConfig, store: ProfileStore | None = None) -> ClawConfig:
    """`config` with its model's calibrated call format for every setting the user left
    unset; unchanged without a profile. The grammar for tools in the prompt writes Hermes
    calls, so it goes off with another dialect (unless the user turned it on)."""
    profile = (store or ProfileStore()).get(config)
    chosen = format_named(profile.chosen) if profile and profile.useful else None
    if chosen is None:
        return config
    given = config.explicit_settings
    values = {k: v for k, v in chosen.settings().items() if k not in given}
    if not values:
        return config
    updated = replace(config, **values)
    if updated.tool_prompt_dialect != "hermes" and "tool_grammar" not in given:
        updated = replace(updated, tool_grammar=False)
    return updated


def describe_profiles(store: ProfileStore | None = None) -> list[str]:
    """Lines for `claw-nb models`: each calibrated model, its format, valid-call rate, date."""
    store = store or ProfileStore()
    profiles = store.all()
    lines = [f"calibrated models ({store.path}; `claw-nb calibrate` adds one):"]
    for profile in sorted(profiles.values(), key=lambda p: p.key):
        best = profile.result(profile.chosen)
        rate = (
            f"{best.valid}/{best.requests} valid calls ({best.low:.0%}-{best.high:.0%})"
            if best
            else "no figures"
        )
        lines.append(
            f"  {_printable(profile.key):<48} {profile.chosen:<16} {rate}  {profile.created[:10]}"
        )
    if not profiles:
        lines.append("  none")
    return lines


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)
