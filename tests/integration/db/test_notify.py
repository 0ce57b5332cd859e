"""Change notifications and the change counter (recsys/db/notify.py)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from recsys.db.notify import ChangeListener


def _heard(listener: ChangeListener, seconds: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listener.changed():
            return True
        time.sleep(0.05)
    return False


def test_postgres_tells_listeners_about_every_change(loaded: Engine) -> None:
    """PostgreSQL notifies the API's read model of a committed change to a table it mirrors
    (whoever writes, whatever the statement); nothing is heard while nothing changes or
    before the commit. SQLite has no notifications: the read model counts rows instead."""
    listener = ChangeListener.open(loaded)
    if loaded.dialect.name != "postgresql":
        assert listener is None
        return
    assert listener is not None
    try:
        assert not listener.changed()
        with loaded.connect() as conn:
            conn.execute(text("UPDATE scores SET rating = 3 WHERE id = "
                              "(SELECT min(id) FROM scores)"))
            assert not listener.changed()  # not committed yet
            conn.commit()
        assert _heard(listener)
        assert not listener.changed()
        with loaded.begin() as conn:
            conn.execute(text("DELETE FROM predictions"))
        assert _heard(listener)
        with loaded.begin() as conn:  # a table the read model does not mirror
            conn.execute(text("UPDATE persons SET full_name = 'x' WHERE id = 1"))
        assert not _heard(listener, seconds=0.5)
    finally:
        listener.close()
