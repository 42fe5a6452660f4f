"""Runs a command-line agent inside a trial's sandbox (executed by path; standard library only).

The sandbox has no network, only its own loopback. This launcher listens on 127.0.0.1 inside
it and pipes every connection to the host's recording proxy through the unix socket bound in
(``CLAW_LAB_MODEL_SOCKET``), so the agent reaches the model and nothing else. Then it runs the
agent's command (``CLAW_LAB_AGENT_COMMAND``, run by bash) with ``CLAW_LAB_API_BASE`` and the
usual OpenAI variables pointing at that port, a throwaway ``HOME``, and waits for it. A file
``stop`` next to the socket, made by the host when the trial is stopped, ends the agent early.
Exit status: the agent's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

DUMMY_KEY = "claw-lab-proxy"  # the real key stays on the host, in the proxy


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(listener: socket.socket, socket_path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(socket_path)
        except OSError:
            client.close()
            upstream.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def main() -> int:
    socket_path = os.environ["CLAW_LAB_MODEL_SOCKET"]
    command = os.environ["CLAW_LAB_AGENT_COMMAND"]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, socket_path), daemon=True).start()
    api_base = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    home = tempfile.mkdtemp(prefix="agent-home-")
    env = dict(os.environ)
    for name in ("CLAW_LAB_MODEL_SOCKET", "CLAW_LAB_AGENT_COMMAND"):
        env.pop(name, None)
    env.update(
        HOME=home,
        CLAW_LAB_API_BASE=api_base,
        OPENAI_BASE_URL=api_base,
        OPENAI_API_BASE=api_base,
        OPENAI_API_KEY=DUMMY_KEY,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    stop_file = os.path.join(os.path.dirname(socket_path), "stop")
    proc = subprocess.Popen(
        ["bash", "-c", command], env=env, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while proc.poll() is None:
            if os.path.exists(stop_file):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                print("claw lab: the trial was stopped", file=sys.stderr)
                return 130
            time.sleep(0.2)
        return proc.returncode
    finally:
        listener.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
