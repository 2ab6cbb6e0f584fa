"""Where a tick store (or a directory of feature partitions) lives: a local path or a URI.

A location is a local path (``data/ticks``, ``/mnt/shared/ticks``: a shared filesystem is a local
path on every machine) or a URI that :func:`pyarrow.fs.FileSystem.from_uri` resolves:
``file:///abs/path``, ``s3://bucket/prefix``, ``gs://bucket/prefix``. S3-compatible servers take
``?endpoint_override=host:port&scheme=http`` (MinIO, Ceph). Credentials come from the environment
only (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_DEFAULT_REGION``, or
``GOOGLE_APPLICATION_CREDENTIALS``; see ``.env.example``): a URI carrying a key is refused, so
none ends up in a config file, a log line or a task sent to a Dask worker.

Atomic writes (:func:`write_atomic`): on a local filesystem the file is written to a hidden
temporary name beside the target, fsynced and renamed over it, and the directory fsynced. On
object storage an object is all or nothing by itself (an S3 PUT or multipart upload, a GCS
upload, becomes visible only once complete), so the file is encoded in memory first and then
uploaded in one piece: a reader sees the old object or the new one, never a torn one. Object
stores have no file locks: two processes must not write the same partition at once there
(readers are safe).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

#: URI query parameters that would carry a secret (pyarrow's S3 options).
SECRET_PARAMS = ("access_key", "secret_key", "session_token", "role_arn", "external_id")


class LocationError(ValueError):
    """A store location that cannot be used; the message says why and what to write instead."""


def is_uri(location: str | Path) -> bool:
    """True for ``scheme://...`` (not for a local path, nor a Windows drive letter)."""
    text = str(location)
    return "://" in text and len(text.split("://", 1)[0]) > 1


@dataclass(frozen=True)
class Location:
    """A resolved location: its filesystem and the path on it (no trailing ``/``)."""

    text: str  # as given: what another process (a Dask worker) resolves again
    fs: pafs.FileSystem
    path: str

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def same(self, other: Location) -> bool:
        """Both name one place (local paths compared after resolving links)."""
        if self.local and other.local:
            return Path(self.path).resolve() == Path(other.path).resolve()
        return (type(self.fs), self.path) == (type(other.fs), other.path)

    def join(self, *parts: str) -> str:
        return "/".join([self.path, *parts])

    def files(self, directory: str, suffix: str = ".parquet") -> list[str]:
        """Files directly in ``directory`` ending in ``suffix``, sorted; hidden names (``.tmp-*``)
        skipped; none when the directory does not exist."""
        infos = self.fs.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
        return sorted(i.path for i in infos if i.type == pafs.FileType.File
                      and i.base_name.endswith(suffix) and not i.base_name.startswith("."))

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type == pafs.FileType.File

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as fh:
            return fh.read()


def rooted(location: str | Path, home_path: Callable[[str | Path], Path]) -> str | Path:
    """A URI as given; a local path through ``home_path`` (``Settings.path``: under
    ``AURORA_HOME``)."""
    return str(location) if is_uri(location) else home_path(location)


def resolve(location: str | Path) -> Location:
    """:class:`Location` of a local path (made absolute) or a URI; raises :class:`LocationError`."""
    text = str(location)
    if not is_uri(text):
        return Location(text, pafs.LocalFileSystem(), str(Path(text).expanduser().absolute()))
    query = parse_qs(urlsplit(text).query)
    secrets = [k for k in SECRET_PARAMS if k in query]
    if secrets:
        raise LocationError(f"the store URI carries {', '.join(secrets)}: give credentials in the "
                            "environment instead (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; see "
                            ".env.example) and drop them from the URI")
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise LocationError(f"cannot open the store location {text!r}: {exc}; use a local path, "
                            "file:///abs/path, s3://bucket/prefix or gs://bucket/prefix") from None
    return Location(text, fs, path.rstrip("/"))


def write_atomic(where: Location, path: str, write: Callable[[str | pa.NativeFile], None]) -> None:
    """Write a file at ``path`` all or nothing (see the module doc); ``write(sink)`` writes its
    content to ``sink``, a local temporary path or an in-memory stream, as ``pyarrow`` writers
    take either. The parent directories are created."""
    parent = path.rsplit("/", 1)[0]
    if not where.local:
        sink = pa.BufferOutputStream()
        write(sink)
        where.fs.create_dir(parent, recursive=True)
        with where.fs.open_output_stream(path) as out:
            out.write(sink.getvalue())
        return
    os.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    dir_fd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_bytes_atomic(where: Location, path: str, payload: bytes) -> None:
    """:func:`write_atomic` of ``payload``."""
    def write(sink: str | pa.NativeFile) -> None:
        if isinstance(sink, str):
            Path(sink).write_bytes(payload)
        else:
            sink.write(payload)

    write_atomic(where, path, write)
