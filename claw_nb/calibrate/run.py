"""`calibrate`: every call format against the probes, scored, the best kept as the profile.

Requests go through the same model adapter a session uses (`claw_nb.model.make_model`), so
what is measured is what a session sends. A request is one sample: a valid call or not
(`probes.valid_call`). A format the server refuses (an HTTP error on its first request, e.g.
llama-cpp-python's 500 for `tool_choice="required"`) is marked refused and not tried further;
a server that cannot be reached stops calibration with the usual one-line message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from claw_nb.calibrate.formats import FORMATS, CallFormat
from claw_nb.calibrate.probes import KNOWN_TOOLS, PROBES, TOOLS, valid_call
from claw_nb.calibrate.profile import FormatResult, ModelProfile, ProfileStore, endpoint_of
from claw_nb.config import ClawConfig
from claw_nb.errors import ModelError, ModelUnreachable
from claw_nb.lab.statistics.intervals import wilson_interval

SMALL_SAMPLE = 20  # fewer requests than this per format: the interval is wide, and said so
PROBE_MAX_TOKENS = 1024  # room for the long-arguments probe; a server's cap still applies
Say = Callable[[str], None]


def probe_config(config: ClawConfig, fmt: CallFormat) -> ClawConfig:
    """`config` set to use `fmt`: whole replies, no grammar, no retries (a failure is data)."""
    return replace(
        config,
        tool_grammar=False,
        stream=False,
        max_retries=0,
        max_tokens=config.max_tokens or PROBE_MAX_TOKENS,
        **fmt.settings(),
    )


def measure_format(
    config: ClawConfig, fmt: CallFormat, repeats: int, say: Say, model_factory=None
) -> FormatResult:
    """Send every probe `repeats` times in `fmt`; raises ModelUnreachable for a dead server."""
    from claw_nb.model import make_model

    model = (model_factory or make_model)(probe_config(config, fmt))
    valid = done = 0
    prompt = completion = seconds = 0.0
    for round_ in range(repeats):
        for probe in PROBES:
            started = time.perf_counter()
            try:
                reply = model.complete(probe.request(), TOOLS, known_tools=KNOWN_TOOLS)
            except ModelUnreachable:
                raise
            except ModelError as exc:
                if done == 0:  # the server does not take this format at all
                    say(f"  {fmt.name}: refused ({_one_line(str(exc))})")
                    return FormatResult(fmt.name, 0, 0, 0.0, 1.0, 0, 0, 0, _one_line(str(exc)))
                ok = False
                seconds += time.perf_counter() - started
            else:
                ok = valid_call(reply.tool_calls)
                prompt += reply.prompt_tokens
                completion += reply.completion_tokens
                seconds += reply.latency_ms / 1000 or time.perf_counter() - started
            done += 1
            valid += ok
            say(
                f"  {fmt.name} {probe.name} ({round_ + 1}/{repeats}): "
                f"{'valid call' if ok else 'no valid call'}"
            )
    low, high = wilson_interval(valid, done)
    return FormatResult(
        fmt.name, done, valid, low, high, prompt / done, completion / done, seconds / done
    )


def choose(results: Sequence[FormatResult]) -> FormatResult:
    """The format with the most valid calls; on a tie the one listed first in FORMATS (native
    before prompted: nothing to rewrite); a refused format only when all are."""
    order = {f.name: i for i, f in enumerate(FORMATS)}
    usable = [r for r in results if r.requests] or list(results)
    return max(usable, key=lambda r: (r.rate, -order.get(r.format, 99)))


def calibrate(
    config: ClawConfig,
    *,
    repeats: int = 2,
    formats: Sequence[CallFormat] = FORMATS,
    say: Say = print,
    store: ProfileStore | None = None,
    model_factory=None,
) -> ModelProfile:
    """Measure `formats` for `config`'s model and server, save the profile, return it. A
    profile whose best format made no valid call is returned but not saved: it would only
    move a session off what works today."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    results = []
    for fmt in formats:
        say(f"{fmt.name}: {len(PROBES) * repeats} requests")
        results.append(measure_format(config, fmt, repeats, say, model_factory))
    if not any(r.requests for r in results):
        raise ModelError(
            f"the server at {config.effective_api_base or config.model} refused every call "
            f"format (first: {results[0].error}); no profile written"
        )
    best = choose(results)
    profile = ModelProfile(
        model=config.model,
        endpoint=endpoint_of(config),
        chosen=best.format,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        repeats=repeats,
        results=tuple(results),
    )
    if profile.useful:
        (store or ProfileStore()).save(profile)
    return profile


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def table(profile: ModelProfile) -> str:
    """The calibration table: a row per format, the chosen one marked, small samples said."""
    head = (
        f"{'format':<17} {'valid calls':>11} {'rate':>5} {'95% interval':>13} "
        f"{'prompt tok':>10} {'compl tok':>9} {'s/request':>9}"
    )
    lines = [f"calibration of {profile.key} ({profile.created[:10]})", head]
    for r in profile.results:
        mark = " <- chosen" if r.format == profile.chosen and profile.useful else ""
        if not r.requests:
            lines.append(f"{r.format:<17} {'refused':>11}  {r.error or ''}{mark}")
            continue
        lines.append(
            f"{r.format:<17} {f'{r.valid}/{r.requests}':>11} {r.rate:>5.0%} "
            f"{f'{r.low:.0%}-{r.high:.0%}':>13} {r.prompt_tokens:>10.0f} "
            f"{r.completion_tokens:>9.0f} {r.seconds:>9.2f}{mark}"
        )
    lines.append(verdict(profile))
    return "\n".join(lines)


def verdict(profile: ModelProfile) -> str:
    """One line on how much to trust the choice."""
    best = profile.result(profile.chosen)
    others = [r for r in profile.results if r.requests and r.format != profile.chosen]
    if best is None or not best.requests:
        return "no format was accepted by the server"
    if not best.valid:
        return "no format made a valid call: no profile written (sessions keep their settings)"
    overlapping = [r.format for r in others if r.high >= best.low]
    small = best.requests < SMALL_SAMPLE
    note = f"chosen: {profile.chosen}"
    if small:
        note += f" (small sample: {best.requests} requests a format; --repeats for more)"
    if overlapping:
        note += "; its interval overlaps " + ", ".join(overlapping) + ": not clearly better"
    return note
