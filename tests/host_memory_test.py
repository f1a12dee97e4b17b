"""nst.host_memory: glibc keeps freed memory, measured by page faults in a fresh process."""

import os
import platform
import subprocess
import sys

import pytest

from nst import host_memory

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

# A 128 MiB buffer written and freed 5 times, in a worker thread like XLA:CPU's; prints
# whether the settings were applied and the minor page faults per allocation after the first.
_PROBE = """
import ctypes, resource, sys, threading
from nst import host_memory
applied = host_memory.keep_freed_memory() if sys.argv[1] == "keep" else False
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
size = 1 << 27
def touch():
    ptr = ctypes.c_void_p(libc.malloc(ctypes.c_size_t(size)))
    ctypes.memset(ptr, 1, size)
    libc.free(ptr)
def work():
    touch()
    start = faults()
    for _ in range(5):
        touch()
    print(applied, (faults() - start) / 5)
thread = threading.Thread(target=work)
thread.start()
thread.join()
"""


def _probe(mode: str, **env: str) -> tuple[bool, float]:
    clean = {k: v for k, v in os.environ.items() if k not in host_memory.ENV_SETTINGS}
    clean["JAX_PLATFORMS"] = "cpu"  # as on a GPU machine told to run on its CPU
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=True,
        timeout=120,
    )
    applied, faults = proc.stdout.split()
    return applied == "True", float(faults)


@glibc_only
def test_freed_memory_is_reused_without_page_faults():
    pages = (1 << 27) // 4096  # a fresh 128 MiB buffer: one fault per 4 KiB page
    applied, faults = _probe("keep")
    assert applied
    assert faults < 0.02 * pages
    default_applied, default_faults = _probe("default")
    assert not default_applied
    assert default_faults > 0.5 * pages  # glibc's default: mmap-ed afresh every time


@glibc_only
def test_the_same_settings_from_the_environment_win():
    applied, faults = _probe("keep", **host_memory.ENV_SETTINGS)
    assert not applied  # left alone: the environment already says it
    assert faults < 0.02 * (1 << 27) // 4096
    applied, _ = _probe("keep", MALLOC_ARENA_MAX="4")
    assert not applied


@glibc_only
def test_left_alone_when_jax_will_use_an_accelerator(tmp_path):
    applied, _ = _probe("keep", JAX_PLATFORMS="cuda")
    assert not applied
    # A (fake) GPU plugin installed: left alone unless JAX_PLATFORMS asks for the CPU.
    (tmp_path / "jax_cuda12_plugin").mkdir()
    (tmp_path / "jax_cuda12_plugin" / "__init__.py").write_text("")
    path = os.pathsep.join([str(tmp_path), *sys.path])
    applied, _ = _probe("keep", PYTHONPATH=path, JAX_PLATFORMS="")
    assert not applied
    applied, _ = _probe("keep", PYTHONPATH=path, JAX_PLATFORMS="cpu")
    assert applied
