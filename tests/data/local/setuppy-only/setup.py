"""A setup.py-only project of the mach-nix tests: its metadata comes from its PEP 517 hook."""

from setuptools import setup

DEPENDENCIES = ["six"]

setup(
    name="setuppy-only",
    version="0.3." + str(1 + 1),
    py_modules=["setuppy_only"],
    install_requires=DEPENDENCIES,
)
