"""Data: the schema, loading and validation, the synthetic world and saved runs.

Only this package reads or writes files. The loaders and writers of ``ranking.data.io`` are
re-exported here, so ``from ranking import data; data.load_dataset(...)`` reads naturally.
"""

from ranking.data.dataset import Dataset
from ranking.data.io import (
    csv_bytes,
    from_frames,
    json_bytes,
    json_text,
    labelled_bytes,
    load_dataset,
    load_uploaded,
    read_json,
    write_bytes,
    write_csv,
    write_json,
    write_labelled,
    write_tables,
)

__all__ = [
    "Dataset", "csv_bytes", "from_frames", "json_bytes", "json_text", "labelled_bytes", "load_dataset", "load_uploaded",
    "read_json", "write_bytes", "write_csv", "write_json", "write_labelled", "write_tables",
]
