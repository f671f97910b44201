"""Real data from local files: jsonl / json / parquet readers, TFDS builders (ArrayRecord) for GSM8K and MATH,
and the ToolRL tool-calling data. Nothing here downloads: a user puts the published files in a directory."""

from morl_jax.data.files import read_files, read_records, to_columns
from morl_jax.data.tfds_builders import DataFilesError, hf_train_test_split, load_split, prepare
from morl_jax.data.toolrl import read_toolrl

__all__ = ["DataFilesError", "hf_train_test_split", "load_split", "prepare", "read_files", "read_records",
           "read_toolrl", "to_columns"]
