"""Tests of `convgrad.vectors`."""
