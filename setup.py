"""Build: the simulator's engine (planner/sim/engine.py) and the decode run's loop (planner/model/typed.py)
compiled with Cython where a C compiler is at hand.

Everything else is in pyproject.toml.  Each compiled module is built from its source unchanged, with the
directives that keep Python's semantics (annotations are not C types: `delay: float` stays whatever
was passed, so an int 0 stays an int as in the source; the locals Cython types by itself are C doubles
where Python has floats: the same IEEE operations), so it gives the same numbers bit for bit
(tests/test_compiled_engine.py runs the golden summaries on them).  It is optional: where Cython or a
compiler is missing, or the build fails, the package installs and runs the sources.  Beside each compiled
module the build writes `NAME.py.sha256`, the hash of the source it was built from: planner/__init__.py
imports the compiled module only where the source still has that hash.
"""

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = {"planner.sim.engine": Path("planner/sim/engine.py"), "planner.model.typed": Path("planner/model/typed.py")}


DIGESTS: dict[str, str] = {}  # module -> hash of its source as read before Cython translated it


class BuildEngine(build_ext):
    """build_ext that compiles every time (no timestamps trusted) and writes the hash of the source it compiled
    beside each module it built in this run; a module that failed to build is taken away where it lay
    (an optional one fails with a warning, and the sources run)."""

    def finalize_options(self):
        super().finalize_options()
        self.force = True
        self.built: set[str] = set()

    def build_extension(self, ext):
        self.built.discard(ext.name)
        module = Path(self.get_ext_fullpath(ext.name))
        try:
            super().build_extension(ext)
        except Exception:  # (setuptools reports an optional one and goes on)
            _remove(ext.name, module)
            raise
        self.built.add(ext.name)
        _stamp(ext.name, module)

    def copy_extensions_to_source(self):  # an editable install (`pip install -e .`): the package's own folder
        super().copy_extensions_to_source()
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            name = self.get_ext_fullname(ext.name)
            module = Path(build_py.get_package_dir(name.rpartition(".")[0])) / Path(self.get_ext_filename(name)).name
            if ext.name in self.built:
                _stamp(ext.name, module)
            else:
                _remove(ext.name, module)


def _remove(name: str, module: Path) -> None:
    """Take away compiled `module` and its hash (a failed build: no module of an older source stays behind)."""
    module.unlink(missing_ok=True)
    module.with_name(SOURCES[name].name + ".sha256").unlink(missing_ok=True)


def _stamp(name: str, module: Path) -> None:
    """Write the hash of module `name`'s source, as compiled, beside its compiled `module` (where that is there)."""
    if module.exists() and name in DIGESTS:
        module.with_name(SOURCES[name].name + ".sha256").write_text(DIGESTS[name] + "\n")


def extensions() -> list:
    try:
        from Cython.Build import cythonize
    except ImportError:  # no Cython: the sources alone
        return []
    DIGESTS.update({n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in SOURCES.items()})
    # no fused multiply-add or fast math (a CFLAGS=-march=native or -ffast-math build could otherwise round
    # differently from Python); no debug information (a module of a third the size)
    flags = [] if sys.platform == "win32" else ["-ffp-contract=off", "-fno-fast-math", "-g0"]
    try:
        exts = cythonize(
            [Extension(n, [str(p)], extra_compile_args=flags) for n, p in SOURCES.items()],
            compiler_directives={"language_level": 3, "annotation_typing": False},
            force=True,
            quiet=True,
        )
    except Exception as e:  # (Cython cannot translate one: the sources alone, as without a compiler)  # noqa: BLE001
        print(f"warning: nothing is compiled (Cython: {e}); the sources run as Python")
        return []
    for ext in exts:  # (cythonize makes new Extensions and drops `optional`)
        ext.optional = True  # a failed compile (no C compiler) leaves the sources to run, with a warning
    return exts


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildEngine})
