"""The harness's Doorkeeper server: a missing Debian package is an error that names it."""

from __future__ import annotations

import pytest

from tests import servers


def test_a_missing_ruby_library_is_an_error_naming_its_package(monkeypatch):
    monkeypatch.setitem(servers.DOORKEEPER_PACKAGES, "no-such-gem-scf", "ruby-no-such-gem-scf")
    with pytest.raises(servers.ServerUnavailable, match="apt-get install ruby-no-such-gem-scf"):
        servers.DoorkeeperServer()


def test_the_installed_packages_are_enough():
    assert servers._missing_ruby_libraries(servers.find_binary("ruby", "ruby")) == []
