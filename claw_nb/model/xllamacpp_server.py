"""The embedded server on xllamacpp: llama.cpp's own C++ server, from a prebuilt wheel.

llama-cpp-python has no wheels on the package registry (pip builds it from source, 7-21 min on
2 cores); xllamacpp (MIT, Xorbits) ships manylinux, macOS and Windows wheels that install in
seconds and run llama.cpp's native server in-process. `python -m claw_nb.model.xllamacpp_server`
serves one GGUF on 127.0.0.1 with its own chat template (`--jinja`), like the llama-cpp-python
command in `claw_nb.model.embedded`, and runs until it is killed (by the supervisor there).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
from pathlib import Path

MODULE = "claw_nb.model.xllamacpp_server"
REPEAT_PENALTY = 1.1


def available() -> bool:
    return importlib.util.find_spec("xllamacpp") is not None


def command(
    model: Path, alias: str, n_ctx: int, port: int, threads: int | None = None
) -> list[str]:
    """The argv the supervisor runs."""
    args = [sys.executable, "-m", MODULE, "--model", str(model), "--alias", alias]
    args += ["--n_ctx", str(n_ctx), "--port", str(port)]
    return args + (["--threads", str(threads)] if threads else [])


def serve(model: str, alias: str, n_ctx: int, port: int, threads: int | None) -> None:
    """Start the server on 127.0.0.1:`port` and block (its HTTP threads do the work)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.model_alias = {alias}
    params.n_ctx = n_ctx
    params.n_parallel = 1  # one slot: the whole window for one request, later ones queue
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.use_jinja = True  # the GGUF's own chat template
    # llama-cpp-python's server samples with repeat_penalty 1.1 unless a request says otherwise,
    # llama.cpp's with 1.0: without it SmolLM2-135M wrote "The output is:" until max_tokens.
    params.sampling.penalty_repeat = REPEAT_PENALTY
    if threads:
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)
    print(f"serving {alias} at {server.listening_address}", flush=True)
    threading.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--n_ctx", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    serve(args.model, args.alias, args.n_ctx, args.port, args.threads)


if __name__ == "__main__":
    main()
