"""The allauth provider "seeclickfix": provider class, OAuth views and their URLs."""
