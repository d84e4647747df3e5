"""Shared test set-up."""

from _aioresponses_compat import install as _install_aioresponses_compat

_install_aioresponses_compat()
