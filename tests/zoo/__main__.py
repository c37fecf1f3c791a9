"""``python -m tests.zoo``: verify every zoo bug and print the detection rate."""

from .detection import detection_rate, table

caught, total, detections = detection_rate()
print(table(detections))
print(f"\nconvgrad.verify caught {caught}/{total} bugs ({100 * caught / total:.0f}%)")
