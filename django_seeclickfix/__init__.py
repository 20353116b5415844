"""Connect SeeClickFix accounts to a Django site and act on SeeClickFix as those users."""

__version__ = "0.1.0"
