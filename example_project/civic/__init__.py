"""The Elm City Fixes site: pages around django-seeclickfix's linked accounts and jobs."""
