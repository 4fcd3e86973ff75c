"""Build: the simulator's engine (planner/sim/engine.py) compiled with Cython where a C compiler is at hand.

Everything else is in pyproject.toml.  The compiled module is built from engine.py unchanged, with the
directives that keep Python's semantics (annotations are not C types: `delay: float` stays whatever
was passed, so an int 0 stays an int as in the source), so it gives the same numbers bit for bit
(tests/test_golden.py runs the golden summaries on it); it is about 1.3-1.5x as fast.  It is optional:
where Cython or a compiler is missing, or the build fails, the package installs and runs engine.py.
Beside the compiled module the build writes `engine.py.sha256`, the hash of the engine.py it was built
from: planner/sim/__init__.py imports the compiled module only where engine.py still has that hash.
"""

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ENGINE = Path("planner/sim/engine.py")


class BuildEngine(build_ext):
    """build_ext that writes the source's hash beside each compiled module it built."""

    def build_extension(self, ext):
        super().build_extension(ext)  # (an optional extension that failed raises no error and is not there)
        _stamp(Path(self.get_ext_fullpath(ext.name)))

    def copy_extensions_to_source(self):  # an editable install (`pip install -e .`): the package's own folder
        super().copy_extensions_to_source()
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            name = self.get_ext_fullname(ext.name)
            folder = build_py.get_package_dir(name.rpartition(".")[0])
            _stamp(Path(folder) / Path(self.get_ext_filename(name)).name)


def _stamp(module: Path) -> None:
    """Write the hash of the engine.py compiled beside the compiled `module` (where it is there)."""
    if module.exists():
        digest = hashlib.sha256(ENGINE.read_bytes()).hexdigest()
        module.with_name(ENGINE.name + ".sha256").write_text(digest + "\n")


def extensions() -> list:
    try:
        from Cython.Build import cythonize
    except ImportError:  # no Cython: engine.py alone
        return []
    # no fused multiply-add (a CFLAGS=-march=native build could otherwise round a * b + c once where Python rounds twice)
    flags = [] if sys.platform == "win32" else ["-ffp-contract=off"]
    ext = Extension("planner.sim.engine", [str(ENGINE)], optional=True, extra_compile_args=flags)
    try:
        return cythonize(
            [ext],
            compiler_directives={"language_level": 3, "annotation_typing": False},
            quiet=True,
        )
    except Exception as e:  # (Cython cannot translate it: engine.py alone, as without a compiler)  # noqa: BLE001
        print(f"warning: the engine is not compiled (Cython: {e}); planner/sim/engine.py runs as Python")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildEngine})
