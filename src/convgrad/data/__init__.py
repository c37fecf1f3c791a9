"""Data shipped with convgrad: the committed hashes of the conformance vector sets."""
