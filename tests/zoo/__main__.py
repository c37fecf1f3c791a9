"""``python -m tests.zoo``: verify every zoo bug and print the detection rate; then the
transposed zoo under ``convgrad.verify_transpose``."""

from . import transposed
from .detection import detection_rate, table

caught, total, detections = detection_rate()
print(table(detections))
print(f"\nconvgrad.verify caught {caught}/{total} bugs ({100 * caught / total:.0f}%)")
print("\n" + transposed.table())
