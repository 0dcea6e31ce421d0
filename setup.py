"""The package build also builds the web UI's front-end bundle (see scripts/build_ui.py).

``build_py`` runs for ``pip install .``, for wheels and for editable installs, so every way
of installing from a checkout ends with a current bundle inside the package; a built wheel
carries it and needs no node.  The bundle is built only when missing or older than its
inputs (a stamp of frontend/'s files), so rebuilding the package costs nothing extra.
"""

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithUI(build_py):
    def run(self) -> None:
        script = Path(__file__).resolve().parent / "scripts" / "build_ui.py"
        if script.is_file():  # absent when building from a wheel-only tree: the bundle is there already
            runpy.run_path(str(script))["ensure"]()
        super().run()


setup(cmdclass={"build_py": BuildPyWithUI})
