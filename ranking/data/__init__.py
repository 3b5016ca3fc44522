"""Data: the schema, loading and validation, the synthetic world and saved runs.

Only this package reads or writes files. The loaders of ``ranking.data.io`` and the writers of
``ranking.data.formats`` are re-exported here: ``from ranking import data; data.load_dataset(...)``.
"""

from ranking.data.dataset import Dataset
from ranking.data.formats import (
    csv_bytes,
    json_bytes,
    json_text,
    labelled_bytes,
    read_json,
    write_bytes,
    write_csv,
    write_json,
    write_labelled,
    write_tables,
)
from ranking.data.io import from_frames, load_dataset, load_uploaded

__all__ = [
    "Dataset", "csv_bytes", "from_frames", "json_bytes", "json_text", "labelled_bytes", "load_dataset", "load_uploaded",
    "read_json", "write_bytes", "write_csv", "write_json", "write_labelled", "write_tables",
]
