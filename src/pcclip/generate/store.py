"""The generation store: one SQLite file (WAL journal) holding every output with its provenance.

A row is one pair's output under one cache key, the hash of (back end, model, rendered prompt,
settings fingerprint, and what else the back end reads). Each finished output is committed at once,
so a process killed at any moment (kill -9 included) keeps every row it committed, and a rerun asks
again only for keys with no completed row. Pairs sharing a key (two pairs with the same captions)
share one generation. A completed row is never replaced by a failure; a failed one is replaced by
a later success. Shards are separate files merged with `merge_stores`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..cache import read_jsonl, write_jsonl
from ..errors import PcclipError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class GenerationRecord:
    """One pair's generated comparison and where it came from.

    status "ok" with the raw output, or "failed" with the reason. cleaned, kept and rule are the
    filter's verdict (rule: the drop rule that removed it); settings: the back end's settings and
    decoding as run (never a secret); settings_hash: the hash of the settings that change outputs;
    key: the cache key; created: ISO time of the last try; attempts: tries so far.
    """

    key: str
    pair_id: str
    id_a: str
    id_b: str
    caption_a: str
    caption_b: str
    prompt: str
    backend: str
    model: str
    settings: dict[str, Any]
    settings_hash: str
    status: str
    reason: str | None
    raw: str | None
    cleaned: str | None
    kept: bool | None
    rule: str | None
    created: str
    attempts: int = 1


_COLUMNS = [f.name for f in fields(GenerationRecord)]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    key TEXT NOT NULL, pair_id TEXT NOT NULL, id_a TEXT NOT NULL, id_b TEXT NOT NULL,
    caption_a TEXT NOT NULL, caption_b TEXT NOT NULL, prompt TEXT NOT NULL,
    backend TEXT NOT NULL, model TEXT NOT NULL, settings TEXT NOT NULL, settings_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), reason TEXT,
    raw TEXT, cleaned TEXT, kept INTEGER, rule TEXT, created TEXT NOT NULL, attempts INTEGER NOT NULL,
    PRIMARY KEY (key, pair_id)
);
CREATE INDEX IF NOT EXISTS records_ok ON records (key) WHERE status = 'ok';
PRAGMA user_version = {SCHEMA_VERSION};
"""
# Insert, or update: a success replaces anything; a failure replaces only a failure. Tries add up.
_UPSERT = f"""
INSERT INTO records ({", ".join(_COLUMNS)}) VALUES ({", ".join("?" for _ in _COLUMNS)})
ON CONFLICT (key, pair_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("key", "pair_id", "attempts"))},
    attempts = records.attempts + excluded.attempts
WHERE excluded.status = 'ok' OR records.status = 'failed'
"""


class Store:
    """An open generation store. Use as a context manager; one writing process per file at a time
    (shards write their own files)."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        # A store in a read-only folder is read without writing (a warm run needs nothing more);
        # only a write is refused, by _transaction.
        writable = _writable(self.path)
        self.readonly = readonly or not writable
        if self.readonly and not self.path.is_file():
            if readonly:
                raise PcclipError(f"{self.path}: no such store")
            raise PcclipError(
                f"{self.path}: cannot create the generation store: its folder is read-only; make it "
                "writable or choose another path (for a run's stores: $PCCLIP_CACHE or run.cache_dir)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{self.path}"
        if self.readonly:
            uri += "?mode=ro"
            # SQLite reads a WAL store through its -shm file; with none (so no writer is active) and
            # a folder where none can be made, the file is read as immutable.
            if not writable and not Path(f"{self.path}-shm").exists():
                uri += "&immutable=1"
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if not self.readonly and version in (0, SCHEMA_VERSION):  # 0: a new file; another version stays untouched
                # WAL: a commit is one append, readers never block the writer, and a killed
                # process leaves every committed transaction intact. NORMAL sync survives a process
                # crash (only a power cut may lose the last commits), at a fraction of FULL's fsyncs.
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._db.executescript(_SCHEMA)
                version = SCHEMA_VERSION
        except sqlite3.DatabaseError as e:
            raise PcclipError(f"{self.path}: not a usable generation store ({e})") from None
        if version != SCHEMA_VERSION:
            self._db.close()
            raise PcclipError(f"{self.path}: store schema version {version}, this pcclip reads {SCHEMA_VERSION}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        # A store damaged past its first page opens fine and fails at a query: one line, as at opening.
        if isinstance(exc, sqlite3.DatabaseError):
            raise PcclipError(f"{self.path}: not a usable generation store ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def put(self, records: Iterable[GenerationRecord]) -> None:
        """Write records in one transaction (committed when this returns)."""
        rows = [_row(r) for r in records]
        if rows:  # nothing to write: no transaction (a read-only store takes none)
            with self._transaction():
                self._db.executemany(_UPSERT, rows)

    def completed(self, keys: Iterable[str]) -> dict[str, GenerationRecord]:
        """For each key with a completed output (for any pair), one such record."""
        found: dict[str, GenerationRecord] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            query = f"SELECT * FROM records WHERE status = 'ok' AND key IN ({','.join('?' * len(chunk))})"
            for row in self._db.execute(query, chunk):
                record = _record(row)
                found.setdefault(record.key, record)
        return found

    def get(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], GenerationRecord]:
        """The records for (key, pair_id) pairs that exist."""
        result = {}
        for chunk in _chunks(list(wanted)):
            clause = " OR ".join("(key = ? AND pair_id = ?)" for _ in chunk)
            for row in self._db.execute(f"SELECT * FROM records WHERE {clause}", [v for kp in chunk for v in kp]):
                record = _record(row)
                result[record.key, record.pair_id] = record
        return result

    def records(self) -> list[GenerationRecord]:
        """Every record, in a stable order (pair, then key)."""
        return [_record(row) for row in self._db.execute("SELECT * FROM records ORDER BY pair_id, key")]

    def set_verdicts(self, records: Iterable[GenerationRecord]) -> None:
        """Store the filter's verdict (cleaned, kept, rule) of existing records, nothing else."""
        rows = [(r.cleaned, None if r.kept is None else int(r.kept), r.rule, r.key, r.pair_id) for r in records]
        if rows:
            with self._transaction():
                self._db.executemany("UPDATE records SET cleaned = ?, kept = ?, rule = ? WHERE key = ? AND pair_id = ?", rows)

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, COUNT(*) FROM records GROUP BY status").fetchall())

    def _transaction(self):
        if self.readonly:
            raise PcclipError(
                f"{self.path}: the generation store is read-only and this run has outputs to store; make "
                "it and its folder writable, or choose another path"
            )
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock is taken up front, so two
    writers wait for each other instead of failing halfway."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *exc):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _writable(path: Path) -> bool:
    """Whether a store can be written at `path`: the file, if there, and the nearest existing folder
    (SQLite makes its -wal and -shm files beside the store)."""
    folder = next(p for p in path.absolute().parents if p.exists())
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def _chunks(items: list, size: int = 400) -> Iterable[list]:
    # SQLite limits bound parameters per statement; 400 pairs of them stay well inside it.
    return (items[i : i + size] for i in range(0, len(items), size))


def _row(record: GenerationRecord) -> tuple:
    values = asdict(record)
    values["settings"] = json.dumps(record.settings, sort_keys=True)
    values["kept"] = None if record.kept is None else int(record.kept)
    return tuple(values[c] for c in _COLUMNS)


def _record(row: tuple) -> GenerationRecord:
    values = dict(zip(_COLUMNS, row))
    values["settings"] = json.loads(values["settings"])
    values["kept"] = None if values["kept"] is None else bool(values["kept"])
    return GenerationRecord(**values)


def merge_stores(target: Path, sources: Sequence[Path]) -> dict[str, int]:
    """Merge shard stores into `target` (created if missing): a completed row wins over a failed one.
    Returns the target's counts by status."""
    with Store(target) as out:
        for source in sources:
            if Path(source).resolve() == Path(target).resolve():
                raise PcclipError(f"{source}: cannot merge a store into itself")
            with Store(source, readonly=True) as shard:
                out.put(shard.records())
        return out.counts()


def export_jsonl(records: Iterable[GenerationRecord], path: Path) -> Path:
    """Write records as JSONL, atomically."""
    return write_jsonl(Path(path), (asdict(record) for record in records))


_SQLITE_HEADER = b"SQLite format 3\x00"


def load_records(path: Path) -> list[GenerationRecord]:
    """Records from a JSONL export, or every record of a store (the SQLite file a generation writes)."""
    try:
        with open(path, "rb") as f:
            is_store = f.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except FileNotFoundError:
        raise PcclipError(f"{path}: file not found") from None
    if is_store:
        with Store(Path(path), readonly=True) as store:
            return store.records()
    records = []
    for line_no, obj in read_jsonl(path):
        missing, unknown = set(_COLUMNS) - set(obj) - {"attempts"}, set(obj) - set(_COLUMNS)
        if missing or unknown:
            problem = f"missing {sorted(missing)}" if missing else f"unknown keys {sorted(unknown)}"
            raise PcclipError(f"{path}: line {line_no}: not a generation record ({problem})")
        records.append(GenerationRecord(**obj))
    return records
