"""Work-directory paths through `etils.epath`: local directories and buckets (gs://, s3://) alike."""

from __future__ import annotations

import os

from etils import epath


def is_remote(path: epath.PathLike) -> bool:
    """Whether a path is a URL (gs://, s3://, ...) rather than a local file."""
    return "://" in str(path)


def resolve(path: epath.PathLike) -> epath.Path:
    """`path` as an epath.Path, made absolute when local (orbax wants absolute directories)."""
    path = epath.Path(path)
    return path if is_remote(path) or path.is_absolute() else epath.Path(os.path.abspath(os.fspath(path)))
