"""The spool writes the bytes write_database writes, whatever the order projects come in."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from mach_nix.db.reader import DatabaseLayer
from mach_nix.db.spool import Spool
from mach_nix.db.writer import write_database

SNAPSHOT = Path(__file__).parent / "data" / "pypi-db"
TIME = "2024-01-01T00:00:00Z"


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_spool_writes_what_write_database_writes(tmp_path: Path) -> None:
    projects = list(DatabaseLayer(SNAPSHOT).projects(details=True))[::12]  # 25 real projects
    write_database(tmp_path / "direct", projects, crawl={"roots": []}, crawl_time=TIME)
    spool = Spool(tmp_path / "spool")
    shuffled = projects[:]
    random.Random(7).shuffle(shuffled)
    for project in shuffled[:20]:  # first versions, replaced below: the last record wins
        spool.add(project.__class__(project.name, {}, 1))
    for project in shuffled:
        spool.add(project)
    assert len(spool) == len(projects)
    spool.write(tmp_path / "spooled", crawl={"roots": []}, crawl_time=TIME)
    assert tree(tmp_path / "spooled") == tree(tmp_path / "direct")

    # a database copied member by member (the merge of partial databases), with two-digit shards
    write_database(tmp_path / "direct2", projects, crawl_time=TIME, prefix_length=2)
    copy = Spool(tmp_path / "spool2")
    assert copy.add_layer(DatabaseLayer(tmp_path / "direct")) == len(projects)
    copy.write(tmp_path / "copied", crawl_time=TIME, prefix_length=2)
    assert tree(tmp_path / "copied") == tree(tmp_path / "direct2")
    spool.close()
    copy.close()
    assert not (tmp_path / "spool").exists()
