"""Turn a window or reference *location* (a path, an object-store URL, a database) into a file.

``stage_source`` runs before anything is created: a local path or ``file://`` URL is returned as
it is; an object (``s3://``, ``gs://``, ``abfs://``, ``az://``, ``hdfs://``, anything
``pyarrow.fs.FileSystem.from_uri`` reads) is streamed to a file of the same suffix in ``work``
(a prefix of parquet parts becomes one parquet file, record batch by record batch); a SQLAlchemy
database URL with a query is read in chunks into one parquet file. Every source then goes
through the same code (the footer-only validation, chunked reading and the notebook read local
files), so a window gives identical results wherever it came from.

Object stores go through ``pyarrow.fs`` rather than s3fs/gcsfs: pyarrow is already a dependency,
so no new heavy package. Credentials come only from the environment (for S3 the AWS chain:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``/``AWS_DEFAULT_REGION``; the
endpoint from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``). The endpoint and region are
passed to pyarrow explicitly: pyarrow 25 honours both variables in ``from_uri``, but older
releases (the floor is 14) know only ``AWS_ENDPOINT_URL`` (``AWS_ENDPOINT_URL_S3`` came with
apache/arrow#39160), and a region given avoids a bucket-region lookup. A URL carrying a password
or a credential in its query string is refused. ``describe_location`` is what may be recorded or
printed: never a user, password, token or query string.

SQL chunks (``SQL_CHUNK_ROWS``, read at call time) are written as parquet parts, their schemas
unified (a column all-null in one chunk takes the type of the others; an int column that meets a
NULL becomes float, as pandas reads the whole result) and copied into one file part by part, so
memory holds one chunk. Tz-aware times are stored in UTC.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import url2pathname

from mlflow_monitor.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import URL, Connection, Dialect, Engine

__all__ = [
    "SQL_CHUNK_ROWS",
    "StagedSource",
    "describe_location",
    "is_remote",
    "stage_source",
]

SQL_CHUNK_ROWS = 50_000
_COPY_BYTES = 8 << 20
_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".txt")  # what adapters.sources.files reads
_PARQUET_SUFFIXES = (".parquet", ".pq")
_OBJECT_SCHEMES = frozenset({"s3", "gs", "gcs", "abfs", "abfss", "az", "hdfs", "viewfs"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_SECRET_KEYS = ("pass", "secret", "token", "signature", "credential", "access_key")
_SECRET_EXACT = frozenset({"sig", "key", "pwd"})
# SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; use whichever driver is installed.
_DRIVERS = {"postgresql": (("psycopg", "psycopg"), ("psycopg2", "psycopg2"))}
_CREDENTIAL_HINTS = {
    "postgresql": "PGPASSWORD or a ~/.pgpass file",
    "s3": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS",
    "abfs": "the AZURE_* variables",
    "abfss": "the AZURE_* variables",
    "az": "the AZURE_* variables",
}


@dataclass(frozen=True)
class StagedSource:
    """A location made readable as a local file, and what may be recorded about it.

    ``location`` is a local absolute path or the URL without user, password and query string;
    ``query`` the SQL text run for a database source; ``rows`` the rows written from SQL.
    """

    path: Path
    location: str
    kind: str  # "file" | "object_store" | "sql"
    query: str | None
    rows: int | None
    seconds: float
    staged: bool


def is_remote(location: str | Path) -> bool:
    """True for a URL that must be staged (anything with ``scheme://`` but ``file://``)."""
    scheme = _scheme(location)
    return scheme is not None and scheme != "file"


def describe_location(location: str) -> str:
    """The location as it may be shown or recorded: a local absolute path, or the URL without
    user, password, query string and fragment (an ``abfs`` container before ``@`` is kept)."""
    scheme = _scheme(location)
    if scheme is None or scheme == "file":
        return str(_local_path(location).absolute())
    rest = location[len(scheme) + 3 :]
    userinfo, host_and_path = _split_userinfo(rest)
    rest = re.split(r"[?#]", host_and_path, maxsplit=1)[0]
    if userinfo is not None and scheme in ("abfs", "abfss"):
        rest = f"{userinfo.split(':', 1)[0]}@{rest}"
    return f"{scheme}://{rest}"


def stage_source(
    location: str | Path,
    *,
    work: Path,
    query: str | None = None,
    params: Mapping[str, object] | None = None,
    what: str = "--current",
) -> StagedSource:
    """``location`` as a local file: as it is for a path, else a copy staged in ``work``.

    ``query`` (SQL text, ``@file.sql`` or a table name) is required for a database URL and
    refused otherwise; ``params`` are bound where the query names them (``:window_start``).
    Every failure is one ``DataError`` line naming ``what`` and the redacted location.
    """
    text = str(location)
    scheme = _scheme(location)
    if scheme is None or scheme == "file":
        _refuse_query(query, what, text)
        path = _local_path(text)
        return StagedSource(path, str(path.absolute()), "file", None, None, 0.0, False)
    shown = describe_location(text)
    _refuse_credentials(text, scheme, what=what, shown=shown)
    folder = work / _stem(what)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if scheme in _OBJECT_SCHEMES or not _is_database(text):
        _refuse_query(query, what, shown)
        path = _stage_object(text, scheme, folder=folder, what=what, shown=shown)
        seconds = time.perf_counter() - started
        return StagedSource(path, shown, "object_store", None, None, seconds, True)
    sql = _resolve_query(query, what=what, shown=shown)
    path, rows, sql = _stage_sql(text, sql, params or {}, folder=folder, what=what, shown=shown)
    seconds = time.perf_counter() - started
    return StagedSource(path, shown, "sql", sql, rows, seconds, True)


# -- locations ------------------------------------------------------------------------------


def _scheme(location: str | Path) -> str | None:
    if isinstance(location, Path):
        return None
    match = _SCHEME.match(location)
    return match.group(1).lower() if match else None


def _local_path(location: str) -> Path:
    if _scheme(location) == "file":
        return Path(url2pathname(urlsplit(location).path))
    return Path(location)


def _split_userinfo(rest: str) -> tuple[str | None, str]:
    """(user[:password], the rest) of the text after ``scheme://``, reading as SQLAlchemy does
    (the password runs to the first ``@``, so it may hold ``/`` or ``?``): a safe superset."""
    at = rest.find("@")
    if at < 0:
        return None, rest
    before = rest[:at]
    user = before.split(":", 1)[0]
    if ":" in before and not re.search(r"[/?#]", user):
        return before, rest[at + 1 :]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:  # user@host with no password
        return before, rest[at + 1 :]
    return None, rest


def _stem(what: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", what.lstrip("-")).strip("_.") or "source"


def _is_database(location: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(location).get_dialect()
    except (ArgumentError, ValueError):
        return False
    return True


# -- credentials ----------------------------------------------------------------------------


def _refuse_credentials(location: str, scheme: str, *, what: str, shown: str) -> None:
    """A password in the URL, or a credential in its query string, is a DataError (not echoed)."""
    hint = _CREDENTIAL_HINTS.get(scheme.split("+", 1)[0], "the environment")
    userinfo, _ = _split_userinfo(location[len(scheme) + 3 :])
    if userinfo is not None and ":" in userinfo:
        raise DataError(
            f"{what} {shown}: the URL carries a password; give credentials through the "
            f"environment ({hint}), never in the URL"
        )
    for key, _value in parse_qsl(urlsplit(location).query, keep_blank_values=True):
        low = key.lower()
        if low in _SECRET_EXACT or any(part in low for part in _SECRET_KEYS):
            raise DataError(
                f"{what} {shown}: the URL's query string carries a credential ({key}); give "
                f"credentials through the environment ({hint}), never in the URL"
            )


def _refuse_query(query: str | None, what: str, shown: str) -> None:
    if query is not None:
        raise DataError(f"{what} {shown}: --query applies only to a database URL")


# -- object stores --------------------------------------------------------------------------


def _stage_object(url: str, scheme: str, *, folder: Path, what: str, shown: str) -> Path:
    """Copy one object (or merge a prefix of parquet parts) into ``folder``."""
    import pyarrow.fs as pafs

    filesystem, path = _open_filesystem(url, scheme, what=what, shown=shown)
    try:
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise DataError(f"{what} {shown}: not found")
        if info.type == pafs.FileType.Directory:
            return _merge_parts(filesystem, path, folder=folder, what=what, shown=shown)
        return _copy_object(filesystem, path, folder=folder, what=what, shown=shown)
    except OSError as exc:
        raise _object_error(exc, what=what, shown=shown) from None


def _open_filesystem(url: str, scheme: str, *, what: str, shown: str) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    try:
        filesystem, path = pafs.FileSystem.from_uri(_with_environment(url, scheme, what, shown))
    except Exception as exc:  # ArrowInvalid for a bad URI, OSError for a missing library
        if "Unrecognized filesystem type" in str(exc):
            raise DataError(
                f"{what} {shown}: unsupported location (use a file path, an s3://, gs://, "
                "abfs:// or hdfs:// URL, or a SQLAlchemy database URL with --query)"
            ) from None
        raise DataError(f"{what} {shown}: cannot open ({_first_line(exc)})") from None
    return filesystem, str(path)


def _with_environment(url: str, scheme: str, what: str, shown: str) -> str:
    """The URL pyarrow opens: ``az://container/path`` as ``abfs``; for S3 the region and the
    endpoint from the environment as pyarrow query options (unless the URL sets them)."""
    if scheme == "az":
        return _azure_url(url, what, shown)
    if scheme != "s3":
        return url
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options.setdefault("region", region)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and "endpoint_override" not in options:
        address = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["endpoint_override"] = address.netloc
        options.setdefault("scheme", address.scheme or "https")
    return parts._replace(query=urlencode(options)).geturl()


def _azure_url(url: str, what: str, shown: str) -> str:
    account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
    if not account:
        raise DataError(
            f"{what} {shown}: az:// needs AZURE_STORAGE_ACCOUNT_NAME (or use "
            "abfs://<container>@<account>.dfs.core.windows.net/<path>)"
        )
    parts = urlsplit(url)
    return f"abfs://{parts.netloc}@{account}.dfs.core.windows.net{parts.path}"


def _copy_object(filesystem: Any, path: str, *, folder: Path, what: str, shown: str) -> Path:
    """Stream the object to ``folder/<its name>`` (written aside, then renamed)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"{what} {shown}: unsupported format {suffix!r} (use .parquet or .csv)")
    target = folder / name
    partial = folder / f".{name}.part"
    try:
        with filesystem.open_input_stream(path) as source, partial.open("wb") as sink:
            shutil.copyfileobj(source, sink, _COPY_BYTES)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _merge_parts(filesystem: Any, path: str, *, folder: Path, what: str, shown: str) -> Path:
    """The parquet files under a prefix as one parquet file, record batch by record batch."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    listing = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
    parts = sorted(
        i.path
        for i in listing
        if i.type == pafs.FileType.File and i.path.lower().endswith(_PARQUET_SUFFIXES)
    )
    if not parts:
        raise DataError(f"{what} {shown}: holds no .parquet files")
    target = folder / f"{path.rstrip('/').rsplit('/', 1)[-1] or 'parts'}.parquet"
    partial = folder / f".{target.name}.part"
    try:
        dataset = ds.dataset(parts, filesystem=filesystem, format="parquet")
        with pq.ParquetWriter(partial, dataset.schema) as writer:
            for batch in dataset.to_batches():
                writer.write_batch(batch)
        partial.replace(target)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError: parts that disagree
        raise _object_error(exc, what=what, shown=shown) from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def _object_error(exc: Exception, *, what: str, shown: str) -> DataError:
    text = str(exc)
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text or "NoSuchKey" in text:
        return DataError(f"{what} {shown}: not found")
    if isinstance(exc, PermissionError) or "ACCESS_DENIED" in text or "AccessDenied" in text:
        return DataError(
            f"{what} {shown}: access denied (check the credentials in the environment)"
        )
    return DataError(f"{what} {shown}: cannot read ({_first_line(exc)})")


# -- SQL ------------------------------------------------------------------------------------


def _resolve_query(query: str | None, *, what: str, shown: str) -> str:
    """SQL text from ``query``: the text, the contents of ``@file.sql``, or the whole table."""
    if query is None or not query.strip():
        raise DataError(
            f"{what} {shown}: a database needs --query (SQL text, @file.sql or a table name)"
        )
    query = query.strip()
    if query.startswith("@"):
        file = Path(query[1:]).expanduser()
        try:
            query = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DataError(f"{what} --query {query}: cannot read ({exc.strerror})") from None
        if not query:
            raise DataError(f"{what} --query @{file}: the file is empty")
    return query


def _stage_sql(
    url: str,
    sql: str,
    params: Mapping[str, object],
    *,
    folder: Path,
    what: str,
    shown: str,
) -> tuple[Path, int, str]:
    """Run ``sql`` (a table name: ``SELECT *`` from it) and write its rows to
    ``folder/<what>.parquet``; returns the path, the rows and the SQL that ran."""
    import sqlalchemy as sa

    engine = _engine(url, what=what, shown=shown)
    sql = _whole_table(sql, engine.dialect)
    parts_dir = folder / f".{_stem(what)}.parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir()
    try:
        with _connect(engine, what=what, shown=shown) as connection:
            statement = sa.text(sql)
            chunks = _read_chunks(connection, statement, _used_params(statement, params))
            parts, rows = _write_parts(chunks, parts_dir, what=what, shown=shown)
        if rows == 0:
            raise DataError(f"{what} {shown}: the query returned no rows")
        target = folder / f"{_stem(what)}.parquet"
        _combine_parts(parts, target, what=what, shown=shown)
    except sa.exc.SQLAlchemyError as exc:
        raise DataError(f"{what} {shown}: query failed: {_database_message(exc)}") from None
    finally:
        engine.dispose()
        shutil.rmtree(parts_dir, ignore_errors=True)
    return target, rows, sql


def _engine(url: str, *, what: str, shown: str) -> Engine:
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    try:
        return sa.create_engine(_installed_driver(url), poolclass=NullPool)
    except ImportError as exc:
        raise DataError(f"{what} {shown}: database driver not installed ({exc})") from None
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise DataError(f"{what} {shown}: not a usable database URL ({_first_line(exc)})") from None


def _connect(engine: Engine, *, what: str, shown: str) -> Connection:
    import sqlalchemy as sa

    try:
        return engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        raise DataError(f"{what} {shown}: cannot connect ({_database_message(exc)})") from None


def _installed_driver(url: str) -> URL:
    """The URL with an installed DBAPI named when it names none (``postgresql://``)."""
    import importlib.util

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if "+" in parsed.drivername:
        return parsed
    for driver, module in _DRIVERS.get(parsed.drivername, ()):
        if importlib.util.find_spec(module) is not None:
            return parsed.set(drivername=f"{parsed.drivername}+{driver}")
    return parsed


def _whole_table(sql: str, dialect: Dialect) -> str:
    """``SELECT *`` from a bare (optionally schema-qualified) table name; other SQL as it is."""
    if not _TABLE_NAME.match(sql):
        return sql
    quote = dialect.identifier_preparer.quote
    return "SELECT * FROM " + ".".join(quote(name) for name in sql.split("."))


def _used_params(statement: Any, params: Mapping[str, object]) -> dict[str, Any]:
    """The bind parameters the query names (``:window_start``), nothing else."""
    named = statement.compile().params
    return {key: value for key, value in params.items() if key in named}


def _read_chunks(
    connection: Connection, statement: Any, params: dict[str, Any]
) -> Iterator[pd.DataFrame]:
    """The result as DataFrames of at most ``SQL_CHUNK_ROWS`` rows (a server-side cursor)."""
    import pandas as pd

    streaming = connection.execution_options(stream_results=True)
    chunks = pd.read_sql_query(statement, streaming, params=params, chunksize=SQL_CHUNK_ROWS)
    for chunk in chunks:
        yield _utc_times(chunk)


def _utc_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Tz-aware times in UTC, so every chunk has one type (offsets differ across DST)."""
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            frame[name] = column.dt.tz_convert("UTC")
        elif column.dtype == object:
            first = column.dropna()
            value = first.iloc[0] if len(first) else None
            if getattr(value, "tzinfo", None) is not None and hasattr(value, "utcoffset"):
                frame[name] = pd.to_datetime(column, utc=True)
    return frame


def _write_parts(
    chunks: Iterator[pd.DataFrame], folder: Path, *, what: str, shown: str
) -> tuple[list[Path], int]:
    """Each chunk as one parquet part (pandas metadata dropped); returns the parts and rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts: list[Path] = []
    rows = 0
    for chunk in chunks:
        if chunk.empty:
            continue
        try:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise DataError(f"{what} {shown}: cannot store the rows ({_first_line(exc)})") from None
        part = folder / f"part-{len(parts):06d}.parquet"
        pq.write_table(table.replace_schema_metadata(None), part)
        parts.append(part)
        rows += chunk.shape[0]
    return parts, rows


def _combine_parts(parts: list[Path], target: Path, *, what: str, shown: str) -> None:
    """The parts as one parquet file under their unified schema, one part in memory at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pa.unify_schemas(
            [pq.read_schema(part) for part in parts], promote_options="permissive"
        )
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(
            f"{what} {shown}: a column changes type between rows ({_first_line(exc)})"
        ) from None
    partial = target.with_name(f".{target.name}.part")
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part).cast(schema))
        partial.replace(target)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(f"{what} {shown}: cannot store the rows ({_first_line(exc)})") from None
    finally:
        partial.unlink(missing_ok=True)


def _database_message(exc: Exception) -> str:
    return _first_line(getattr(exc, "orig", None) or exc)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
