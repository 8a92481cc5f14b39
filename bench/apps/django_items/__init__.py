"""A Django app holding the ``items`` model of the benchmark."""
