import os
import subprocess
import sys

# The networks under test are tiny: one intra-op thread per process is as fast as two
# on an idle 2-core machine and far faster when test subprocesses share the cores.
# Set before torch is first imported, so this process and every child inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest


def assert_one_line_error(out, *fragments: str, start: str = "error: ") -> None:
    """``out`` (a CLI result) failed with exit status 2 and exactly one stderr line, which starts with
    ``error: `` and ``start`` and holds every fragment; no traceback."""
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.startswith(start), out.stderr
    assert "Traceback" not in out.stderr
    line = out.stderr.strip()
    for fragment in fragments:
        assert fragment in line, out.stderr


def run_cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m tanas ARGS`` in a real subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "tanas", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture
def cli():
    return run_cli


class InProcessResult:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli_inproc(capsys):
    """Run ``tanas.cli.main(args)`` in this process: same code path as the console script, no start-up cost."""
    import torch

    from tanas.cli import main

    def run(*args: str) -> InProcessResult:
        capsys.readouterr()
        threads = torch.get_num_threads()  # --threads must not leak into later tests
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            torch.set_num_threads(threads)
        captured = capsys.readouterr()
        return InProcessResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def digits():
    """The paper-digits suite (seed 0) by task name: T0..T3."""
    from tanas.data import parse_task

    return {t.name: t for t in parse_task("paper-digits", seed=0)}
